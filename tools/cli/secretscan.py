"""Client-side secret detection for `dockhand snapshot`: nothing secret leaves the machine.

Every string the snapshot collects (commit messages and authors, marker text and context,
paths, branch, the goal/focus/constraints given on the command line) is scanned with
Yelp's detect-secrets, line by line (`detect_secrets.core.scan.scan_line` inside
`transient_settings`), and each finding is replaced by `[REDACTED:<kind>]` before
anything is sent.  The server's own patterns (common/context/redact.py) run too: PEM
private-key blocks first (a block spans lines, so a line scanner alone would take only its
BEGIN line and leave the body), every other kind as a second pass.

Plugins: only the high-precision ones.  The entropy plugins (Base64/Hex HighEntropyString)
are off: on commit messages and code comments they flag commit shas, hashes, ULIDs and
base64 test vectors far more often than secrets, and a snapshot that is mostly
"[REDACTED:hex_high_entropy]" helps no one.  Their recall is covered, for the formats
that matter, by the keyword and provider-specific detectors.

The summary (stderr) names the kind and the place (`path:line`, `commit <sha>`), never
the value.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common.context import redact

PLUGINS: tuple[str, ...] = (
    "AWSKeyDetector",
    "PrivateKeyDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "SlackDetector",
    "StripeDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "BasicAuthDetector",
)

# detect-secrets' type names -> the kinds the server uses too (common/context/redact.py).
_KIND_OF_TYPE = {
    "Private Key": "private_key",
    "GitHub Token": "github_token",
    "GitLab Token": "gitlab_token",
    "Slack Token": "slack_token",
    "Slack Webhook": "slack_token",
    "Stripe Access Key": "stripe_key",
    "JSON Web Token": "jwt",
    "Secret Keyword": "secret_keyword",
    "Basic Auth Credentials": "basic_auth",
}

# Files that commonly hold secrets: never read for markers (matched on the file name).
SECRET_FILES: tuple[str, ...] = (".env*", "*.pem", "*.key", "id_rsa*", "*.p12", "credentials*")

# detect-secrets sometimes reports only part of a token (a capture group such as "ghp",
# or a JWT without its signature): the redaction extends over the token's characters.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=.")


def is_secret_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_FILES)


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str


def _kind(reported_type: str, value: str) -> str:
    if reported_type == "AWS Access Key":
        prefix = value[:4]
        return (
            "aws_access_key_id"
            if prefix in ("AKIA", "ASIA", "ABIA", "ACCA")
            else "aws_secret_access_key"
        )
    return _KIND_OF_TYPE.get(reported_type, reported_type.lower().replace(" ", "_"))


def _spans(line: str, value: str) -> Iterator[tuple[int, int]]:
    start = line.find(value) if value else -1
    while start != -1:
        end = start + len(value)
        while start > 0 and line[start - 1] in _TOKEN_CHARS and value[0] in _TOKEN_CHARS:
            start -= 1
        while end < len(line) and line[end] in _TOKEN_CHARS and value[-1] in _TOKEN_CHARS:
            end += 1
        yield start, end
        start = line.find(value, end)


class Scanner:
    """Scans strings, replaces findings, and remembers kind and place of each one."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def clean(self, text: str, where: str) -> str:
        if not text:
            return text
        found: Counter[str] = Counter()
        # A PEM block spans lines: replaced whole first, before detect-secrets rewrites
        # its BEGIN line alone and leaves the headers and base64 body behind.
        text = redact.redact_private_keys(text, found)
        lines = [self._clean_line(line, where) for line in text.split("\n")]
        cleaned = redact.redact_text("\n".join(lines), found)
        for kind, count in found.items():
            self.findings.extend(Finding(kind, where) for _ in range(count))
        return cleaned

    def _clean_line(self, line: str, where: str) -> str:
        from detect_secrets.core.scan import scan_line

        spans: list[tuple[int, int, str]] = []
        for secret in scan_line(line):
            value = str(secret.secret_value or "")
            kind = _kind(str(secret.type), value)
            for start, end in _spans(line, value):
                if not any(s < end and start < e for s, e, _ in spans):  # first kind wins
                    spans.append((start, end, kind))
        for start, end, kind in sorted(spans, reverse=True):
            line = line[:start] + redact.placeholder(kind) + line[end:]
            self.findings.append(Finding(kind, where))
        return line


def scrub(body: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """The hydrate body with every collected string scanned and redacted, and the findings."""
    from detect_secrets.settings import transient_settings

    scanner = Scanner()
    with transient_settings({"plugins_used": [{"name": name} for name in PLUGINS]}):
        thread = {
            k: v if k == "id" else scanner.clean(v, f"--{k}") for k, v in body["thread"].items()
        }
        repo = {k: scanner.clean(v, f"repo {k}") for k, v in body.get("repo", {}).items()}
        commits = [_scrub_commit(scanner, commit) for commit in body.get("commits", [])]
        changes = [_scrub_change(scanner, change) for change in body.get("changes", [])]
        markers = [_scrub_marker(scanner, marker) for marker in body.get("markers", [])]
        constraints = [scanner.clean(c, "--constraints") for c in body.get("constraints", [])]
        project = _scrub_project(scanner, body["project"]) if "project" in body else None
    cleaned = {**body, "thread": thread, "repo": repo, "commits": commits}
    if "constraints" in body:
        cleaned["constraints"] = constraints
    if project is not None:
        cleaned["project"] = project
    return {**cleaned, "changes": changes, "markers": markers}, scanner.findings


def _scrub_commit(scanner: Scanner, commit: dict[str, str]) -> dict[str, str]:
    where = f"commit {commit['sha'][:12]}"
    return {
        **commit,
        "message": scanner.clean(commit["message"], where),
        "author": scanner.clean(commit["author"], where),
    }


def _scrub_change(scanner: Scanner, change: dict[str, str]) -> dict[str, str]:
    cleaned = {**change, "path": scanner.clean(change["path"], change["path"])}
    if "old_path" in change:
        cleaned["old_path"] = scanner.clean(change["old_path"], change["old_path"])
    return cleaned


def _scrub_project(scanner: Scanner, project: dict[str, Any]) -> dict[str, Any]:
    """The README paragraph and the test command are free text: scanned like the rest."""
    cleaned = dict(project)
    for name in ("summary", "test_command"):
        if project.get(name):
            cleaned[name] = scanner.clean(project[name], f"project {name}")
    layout = project.get("layout", [])
    cleaned["layout"] = [scanner.clean(entry, "project layout") for entry in layout]
    return cleaned


def _scrub_marker(scanner: Scanner, marker: dict[str, Any]) -> dict[str, Any]:
    where = f"{marker['path']}:{marker['line']}"
    cleaned = {**marker, "text": scanner.clean(marker["text"], where)}
    cleaned["path"] = scanner.clean(marker["path"], where)
    if marker.get("context"):
        cleaned["context"] = scanner.clean(marker["context"], where)
    return cleaned


def summary(findings: list[Finding]) -> str:
    """What was redacted, by kind, with places; never the values.  Empty when nothing."""
    if not findings:
        return ""
    places: dict[str, list[str]] = defaultdict(list)
    for finding in findings:
        if finding.where not in places[finding.kind]:
            places[finding.kind].append(finding.where)
    counts = Counter(f.kind for f in findings)
    lines = [f"redacted {len(findings)} possible secret(s) before sending:"]
    for kind in sorted(counts):
        shown = ", ".join(places[kind][:10])
        more = f", ... and {len(places[kind]) - 10} more" if len(places[kind]) > 10 else ""
        lines.append(f"  [REDACTED:{kind}] x{counts[kind]}: {shown}{more}")
    return "\n".join(lines)
