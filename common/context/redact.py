"""Server-side redaction of high-precision secret kinds in what `POST /notes` and
`POST /hydrate` store.

The server does not trust the client to have redacted (the CLI does, with
detect-secrets; a plain HTTP client may not).  This module is the Lambda path's own,
much smaller check: one set of compiled patterns, one per kind, built once at import and
applied to every string of the validated request model (never to the raw JSON text).

Why it is linear in the input (a 5 MiB snapshot must scan in well under a second, and a
hostile body must not make it slower):
- a pattern runs on a string only if the lower-cased string contains one of its literal
  anchors (`str.__contains__`, C speed), so most strings cost one `lower()` and a few
  substring searches;
- every pattern starts with a literal, so the engine's prefix search skips to candidates;
  the left-boundary lookbehind right after it means only the first position of a run of
  token characters can start a long match;
- every repetition is bounded (`{m,n}`) and possessive (`{m,n}+`) where what follows
  cannot overlap it, so a failed attempt never backtracks into it; no repetition is
  nested in another.  Each start position costs bounded work: linear overall.

A match is replaced by `[REDACTED:<kind>]`; for assignments (`password = "..."`,
`aws_secret_access_key: "..."`, `scheme://user:pass@`) only the value is replaced, so the
text still says what was there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# Kinds, in the order they are applied.  The names are the `<kind>` of
# `[REDACTED:<kind>]` and the keys of the 201 body's `"redactions"`.
KINDS: tuple[str, ...] = (
    "private_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "github_token",
    "gitlab_token",
    "slack_token",
    "stripe_key",
    "jwt",
    "basic_auth",
    "secret_keyword",
)

_T = r"A-Za-z0-9_\-"  # token characters: a token must not continue one on its left

_GITLAB = ("pat", "dt", "rt", "ptt", "ft", "soat", "imt", "agent", "cbt", "oas")
_KEYWORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "auth_key",
)


def _casings(words: tuple[str, ...]) -> str:
    """`word|WORD|Word` for each word.  Not re.IGNORECASE: that turns off the engine's
    prefix search, and a case-insensitive pattern runs about 3x slower on long text."""
    return "|".join(f"{w}|{w.upper()}|{w.capitalize()}" for w in words)


@dataclass(frozen=True)
class Kind:
    """One kind: the anchors (lower case) one of which a string must contain before the
    pattern runs on it, and the pattern.  A group named `v` means: redact only that."""

    name: str
    anchors: tuple[str, ...]
    pattern: re.Pattern[str]


def _kind(name: str, anchors: tuple[str, ...], pattern: str, flags: int = 0) -> Kind:
    return Kind(name, anchors, re.compile(pattern, flags))


# Every pattern starts with a literal (or a small class), so the regex engine's prefix
# search skips everything else at C speed; the left-boundary lookbehind comes right after
# that literal.
PATTERNS: tuple[Kind, ...] = (
    # Header, base64 body (no "-" in it, so the possessive run stops at the END line), END.
    _kind(
        "private_key",
        ("-----begin",),
        r"-----BEGIN [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----"
        r"[A-Za-z0-9+/=\s:,.\\]{0,65536}+"
        r"(?:-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    _kind(
        "aws_access_key_id",
        ("akia", "asia", "abia", "acca"),
        r"(?:AKIA|ASIA|ABIA|ACCA)(?<![A-Z0-9]....)[A-Z0-9]{16}+(?![A-Z0-9])",
    ),
    # A 40-character key only next to a name that says what it is: alone it is any base64.
    _kind(
        "aws_secret_access_key",
        ("aws",),
        r"(?:aws|AWS|Aws)[A-Za-z0-9_.\-]{0,20}?(?:secret|key|SECRET|KEY|Secret|Key)"
        r"[A-Za-z0-9_.\-]{0,20}+"
        r"[\"']?+\s{0,5}+[:=]{1,2}+\s{0,5}+[\"']?+"
        r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    ),
    _kind(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"gh(?<![" + _T + r"]gh)(?:[pousr]_[A-Za-z0-9]{36,255}+|ithub_pat_[A-Za-z0-9_]{22,255}+)",
    ),
    _kind(
        "gitlab_token",
        tuple(f"gl{prefix}-" for prefix in _GITLAB),
        r"gl(?<![" + _T + r"]gl)(?:" + "|".join(_GITLAB) + r")-[A-Za-z0-9_\-]{20,255}+",
    ),
    _kind(
        "slack_token",
        ("xox", "hooks.slack.com"),
        r"xox(?<![" + _T + r"]xox)[abposr]-[A-Za-z0-9\-]{10,255}+"
        r"|https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,120}+",
    ),
    _kind(
        "stripe_key",
        ("_live_", "_test_"),
        r"[spr]k(?<![" + _T + r"][spr]k)_(?:live|test)_[A-Za-z0-9]{20,255}+",
    ),
    _kind(
        "jwt",
        ("eyj",),
        r"eyJ(?<![" + _T + r"]eyJ)[A-Za-z0-9_\-]{10,8192}+\.eyJ[A-Za-z0-9_\-]{2,65536}+"
        r"\.[A-Za-z0-9_\-]{0,8192}+",
    ),
    _kind("basic_auth", ("://",), r"://[^:/\s@\"']{1,256}+:(?P<v>[^:/\s@\"']{1,256}+)@"),
    # `password = "..."`, `secret: '...'`, `api_key="..."`: a quoted value after a name
    # containing one of the words.  Unquoted values are left alone (too much ordinary code).
    _kind(
        "secret_keyword",
        ("pass", "pwd", "secret", "token", "key"),
        r"(?:" + _casings(_KEYWORDS) + r")[A-Za-z0-9_.\-]{0,30}+[\"']?+\s{0,5}+"
        r"(?::=|=>|==|[:=])\s{0,5}+(?P<q>[\"'])(?P<v>[^\"'\r\n]{1,512}+)(?P=q)",
    ),
)


_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]{1,40}\]")


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact_text(text: str, found: Counter[str] | None = None) -> str:
    """`text` with every match replaced; counts each kind into `found`.  A value that is
    already a placeholder (the client redacted it) is left alone and not counted."""
    if not text:
        return text
    lowered = text.lower()
    for kind in PATTERNS:
        if any(anchor in lowered for anchor in kind.anchors):
            text = kind.pattern.sub(_replacer(kind.name, found), text)
    return text


def _replacer(kind: str, found: Counter[str] | None) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if "v" in match.re.groupindex:
            start, end = match.start("v") - match.start(), match.end("v") - match.start()
            if _PLACEHOLDER.fullmatch(whole[start:end]):
                return whole
            if found is not None:
                found[kind] += 1
            return whole[:start] + placeholder(kind) + whole[end:]
        if found is not None:
            found[kind] += 1
        return placeholder(kind)

    return replace


def redact_value(value: Any, found: Counter[str]) -> Any:
    """Every string in a JSON-like value (dict keys included) redacted; a new value."""
    if isinstance(value, str):
        return redact_text(value, found)
    if isinstance(value, list):
        return [redact_value(item, found) for item in value]
    if isinstance(value, dict):
        return {redact_text(str(k), found): redact_value(v, found) for k, v in value.items()}
    return value


def redact_model(model: BaseModel, found: Counter[str] | None = None) -> dict[str, int]:
    """Redact every string field of a validated model in place (nested models, lists and
    dicts included); returns the count by kind.  Assignment skips re-validation, so a
    placeholder longer than a short secret cannot turn a valid request into a 400."""
    counts: Counter[str] = found if found is not None else Counter()
    for name in type(model).model_fields:
        current = getattr(model, name)
        updated = _redact_field(current, counts)
        if updated is not current:
            object.__setattr__(model, name, updated)
    return dict(counts)


def _redact_field(value: Any, counts: Counter[str]) -> Any:
    if isinstance(value, BaseModel):
        redact_model(value, counts)
        return value
    if isinstance(value, str):
        cleaned = redact_text(value, counts)
        return value if cleaned == value else cleaned
    if isinstance(value, list):
        return [_redact_field(item, counts) for item in value]
    if isinstance(value, dict):
        return {k: _redact_field(v, counts) for k, v in value.items()}
    return value
