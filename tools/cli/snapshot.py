"""`dockhand snapshot` and `dockhand rehydrate`: the Context API from a developer's shell.

Both talk HTTP (stdlib urllib) to `DOCKHAND_URL` with `DOCKHAND_API_KEY`; without
them they use the running `make run` (its URL and bootstrap key from its
`.dockhand/local-<port>.json`; see tools/cli/localstate.py for which one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 60


class CliError(Exception):
    """A failure to report as `dockhand: <message>` with exit code 1."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status when the API answered with an error


def register(subparsers: Any) -> None:
    snapshot = subparsers.add_parser(
        "snapshot", help="collect a git repository's state and store it (POST /hydrate)"
    )
    snapshot.add_argument("--repo", default=".", help="repository directory (default: .)")
    snapshot.add_argument("--thread", help="thread id (default: the repo directory, slugified)")
    snapshot.add_argument("--persona", help="generalist, senior-backend-dev, frontend-dev, ...")
    snapshot.add_argument("--goal", help="what the thread is trying to achieve")
    snapshot.add_argument("--focus", help="the primary focus for the next session")
    snapshot.add_argument(
        "--constraints",
        action="append",
        default=[],
        metavar="TEXT",
        help="a constraint the next session must respect (repeatable): in the thread and "
        "in the document's Decisions & Constraints",
    )
    snapshot.add_argument("--output", help="what the next session should produce")
    snapshot.add_argument("--max-commits", type=int, default=50, help="recent commits (50)")
    snapshot.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out paths matching GLOB (gitignore syntax; repeatable; see .dockhandignore)",
    )
    snapshot.add_argument(
        "--dry-run", action="store_true", help="print the exact JSON it would post; send nothing"
    )
    snapshot.add_argument("--json", action="store_true", help="print the 201 body as JSON")
    snapshot.set_defaults(func=_snapshot)

    rehydrate = subparsers.add_parser("rehydrate", help="print a snapshot's rehydrate document")
    rehydrate.add_argument("snapshot_id", nargs="?", help="snapshot id (or use --thread)")
    rehydrate.add_argument("--thread", help="render the thread's newest snapshot")
    rehydrate.add_argument("--format", choices=("markdown", "json"), default="markdown")
    rehydrate.add_argument("--max-tokens", type=int, help="fit the document in N tokens")
    rehydrate.add_argument("--since", help="an earlier snapshot id of the same thread")
    rehydrate.set_defaults(func=_rehydrate)


def api_target() -> tuple[str, str]:
    """(base URL, API key) from the environment, else from the running `make run`."""
    from tools.cli import localstate

    url = os.environ.get("DOCKHAND_URL")
    key = os.environ.get("DOCKHAND_API_KEY")
    if not (url and key):
        try:
            run = localstate.find_state()  # the one DOCKHAND_URL names, if it is set
        except localstate.StateError as exc:
            raise CliError(str(exc)) from None
        if run is not None:
            localstate.announce(run)
            url = url or run.api_url
            key = key or run.state.get("bootstrap_key")
    if not key:
        raise CliError(localstate.missing_run_hint())
    return (url or localstate.default_api_url()).rstrip("/"), str(key)


def request(
    method: str, path: str, body: Any = None, timeout: float = TIMEOUT_SECONDS
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one call; HTTP errors become CliError."""
    url, key = api_target()
    data = None
    headers = {"Authorization": f"Bearer {key}", "Accept": "*/*"}
    if body is not None:
        data = encode_body(body)
        headers["Content-Type"] = "application/json; charset=utf-8"
    prepared = urllib.request.Request(url + path, data=data, method=method, headers=headers)  # noqa: S310 - the user's own API URL
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        raise CliError(_describe_error(error.code, error.read()), error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"cannot reach {url} ({reason}); is `make run` up?") from None


def encode_body(body: Any) -> bytes:
    """The request body bytes; `--dry-run` prints exactly these."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _describe_error(status: int, payload: bytes) -> str:
    try:
        error = json.loads(payload)["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}"
    text = f"HTTP {status} {error.get('code')}: {error.get('message')}"
    details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in error.get("details", []))
    return f"{text} ({details})" if details else text


def _fail(message: str) -> int:
    print(f"dockhand: {message}", file=sys.stderr)
    return 1


def _snapshot(args: argparse.Namespace) -> int:
    from tools.cli import collect, secretscan

    try:
        collected = collect.collect(
            Path(args.repo),
            thread_id=args.thread,
            persona=args.persona,
            goal=args.goal,
            focus=args.focus,
            constraints=args.constraints,
            output=args.output,
            max_commits=args.max_commits,
            excludes=args.exclude,
        )
        body, findings = secretscan.scrub(collected)  # before anything is sent or printed
        report = secretscan.summary(findings)
        if report:
            print(f"dockhand: {report}", file=sys.stderr)
        if args.dry_run:
            sys.stdout.flush()
            sys.stdout.buffer.write(encode_body(body) + b"\n")
            sys.stdout.buffer.flush()
            return 0
        _, _, payload = request("POST", "/hydrate", body)
    except collect.GitError as exc:
        return _fail(f"git: {exc}")
    except CliError as exc:
        return _fail(str(exc))
    created = json.loads(payload)
    if args.json:
        print(json.dumps(created, indent=2, ensure_ascii=False))
    else:
        print(created["snapshot_id"])
        counts = ", ".join(_counted(v, k) for k, v in created["counts"].items())
        print(f"thread {created['thread_id']}: {counts}", file=sys.stderr)
    return 0


def _rehydrate(args: argparse.Namespace) -> int:
    if bool(args.snapshot_id) == bool(args.thread):
        return _fail("give a snapshot id or --thread ID (one of them)")
    query: dict[str, str] = {"format": args.format}
    if args.max_tokens is not None:
        query["max_tokens"] = str(args.max_tokens)
    if args.since:
        query["since"] = args.since
    if args.thread:
        query["thread_id"] = args.thread
        path = "/rehydrate"
    else:
        path = "/rehydrate/" + urllib.parse.quote(args.snapshot_id, safe="")
    try:
        _, _, payload = request("GET", f"{path}?{urllib.parse.urlencode(query)}")
    except CliError as exc:
        return _fail(str(exc))
    text = payload.decode("utf-8")
    if args.format == "json":
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))  # byte-exact, whatever the locale
    sys.stdout.buffer.flush()
    return 0


def post_snapshot(
    repo: Path,
    *,
    thread_id: str | None = None,
    persona: str | None = None,
    goal: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[dict[str, Any], str]:
    """Collect the repository, scrub it, POST /hydrate: (the 201 body, what secretscan
    redacted, as a sentence or "").  Used by the hooks and `dockhand mcp`'s `snapshot`
    tool; GitError and CliError go to the caller."""
    from tools.cli import collect, secretscan

    collected = collect.collect(repo, thread_id=thread_id, persona=persona, goal=goal)
    body, findings = secretscan.scrub(collected)
    _, _, payload = request("POST", "/hydrate", body, timeout=timeout)
    created: dict[str, Any] = json.loads(payload)
    return created, secretscan.summary(findings)


def _counted(count: int, plural: str) -> str:
    """ "1 change", "2 changes" (the counts' keys are plural nouns)."""
    return f"{count} {plural.removesuffix('s') if count == 1 else plural}"
