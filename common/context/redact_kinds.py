"""The redaction kinds (common/context/redact.py applies them): one compiled pattern per
kind, the literal anchors that gate it, and the gate over every kind's anchors.

Why a pattern's work is linear in the input (a hostile body must not make it slower):
- every pattern starts with a literal, so the engine's prefix search skips to candidates;
  the left-boundary lookbehind right after it means only the first position of a run of
  token characters can start a long match;
- every repetition is bounded (`{m,n}`) and possessive (`{m,n}+`) where what follows
  cannot overlap it, so a failed attempt never backtracks into it; no repetition is
  nested in another.  Each start position costs bounded work: linear overall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    "dockhand_api_key",
    "webhook_secret",
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


def _kind(name: str, anchors: tuple[str, ...], pattern: str) -> Kind:
    return Kind(name, anchors, re.compile(pattern))


# Every pattern starts with a literal (or a small class), so the regex engine's prefix
# search skips everything else at C speed; the left-boundary lookbehind comes right after
# that literal.
PATTERNS: tuple[Kind, ...] = (
    # Only the BEGIN line: the block's extent (headers, body, END line) is found in code,
    # see common/context/redact_pem.py.
    _kind(
        "private_key", ("-----begin",), r"-----BEGIN [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----"
    ),
    _kind(
        "aws_access_key_id",
        ("akia", "asia", "abia", "acca"),
        r"(?:AKIA|ASIA|ABIA|ACCA)(?<![A-Z0-9]....)[A-Z0-9]{16}+(?![A-Z0-9])",
    ),
    # A 40-character key only next to something that says what it is: alone it is any
    # base64.  Either a name (`aws_secret_access_key = ...`, this pattern), or an access
    # key id close before or after it (`AKIA... wJalr...`, a credentials CSV row): that
    # one is found in code around the id's placeholder (redact._secret_next_to_id), hence the
    # `akia` anchors.
    _kind(
        "aws_secret_access_key",
        ("aws", "akia", "asia", "abia", "acca"),
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
    # dockhand's own API keys, as common.access.auth mints them: `dk_`, a key id (a
    # lower-case ULID, or 16 characters for older keys), `_`, 43 characters of
    # token_urlsafe(32).
    _kind(
        "dockhand_api_key",
        ("dk_",),
        r"dk(?<!["
        + _T
        + r"]dk)_[a-z0-9]{16}(?:[a-z0-9]{10})?+_[A-Za-z0-9_\-]{43}(?!["
        + _T
        + r"])",
    ),
    # Standard Webhooks secrets (common.triggers.webhooks): `whsec_` + base64 of 24-64
    # bytes (dockhand's own are 32).
    _kind(
        "webhook_secret",
        ("whsec_",),
        r"whsec(?<![" + _T + r"]whsec)_[A-Za-z0-9+/]{32,88}+={0,2}+(?![A-Za-z0-9+/=])",
    ),
    _kind(
        "jwt",
        (".eyj",),  # the payload's `.eyJ`: rarer than the header's `eyJ`
        r"eyJ(?<![" + _T + r"]eyJ)[A-Za-z0-9_\-]{10,8192}+\.eyJ[A-Za-z0-9_\-]{2,65536}+"
        r"\.[A-Za-z0-9_\-]{0,8192}+",
    ),
    _kind("basic_auth", ("://",), r"://[^:/\s@\"']{1,256}+:(?P<v>[^:/\s@\"']{1,256}+)@"),
    # `password = "..."`, `secret: '...'`, `api_key="..."`: a quoted value after a name
    # containing one of the words.  Unquoted values are left alone (too much ordinary code).
    _kind(
        "secret_keyword",
        _KEYWORDS,
        r"(?:" + _casings(_KEYWORDS) + r")[A-Za-z0-9_.\-]{0,30}+[\"']?+\s{0,5}+"
        r"(?::=|=>|==|[:=])\s{0,5}+(?P<q>[\"'])(?P<v>[^\"'\r\n]{1,512}+)(?P=q)",
    ),
)


# A placeholder, whoever wrote it (a value the client redacted is left alone).
PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]{1,40}\]")


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _trie(words: set[str]) -> str:
    """One regex matching any of `words`, as a trie (`a(?:ws|kia)|...`): the engine
    tries one branch per first character instead of every word; on the 5 MiB snapshot
    that halves the gate (28 ms vs 59 ms for the flat `aws|akia|...`)."""
    if "" in words:  # a word ends here: for "contains one", longer ones add nothing
        return ""
    by_first: dict[str, set[str]] = {}
    for word in words:
        by_first.setdefault(word[0], set()).add(word[1:])
    branches = [re.escape(first) + _trie(tails) for first, tails in sorted(by_first.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


# Characters from most to least frequent in code and prose (a rough order is enough).
_FREQUENT_FIRST = "etaoinsrhldcu_mfpgywb.vk-:/jxqz"


def gate_word(anchor: str) -> str:
    """The tail of `anchor` (3 characters at least) that starts at its rarest character:
    a string containing the anchor contains the tail, and the engine stops at fewer
    positions to try it (`word` of `password`, `ken` of `token`: the gate over the
    5 MiB snapshot drops from 33 ms to 18 ms)."""
    shortest = min(3, len(anchor))

    def rarity(index: int) -> int:  # not in the table (digits, `@`, `#`): rare
        position = _FREQUENT_FIRST.find(anchor[index])
        return len(_FREQUENT_FIRST) if position == -1 else position

    return anchor[max(range(len(anchor) - shortest + 1), key=rarity) :]


# Two searches decide that a string needs no pattern at all: a cheap one over the rare
# tails (most strings stop there), then the exact anchors (`keys` passes the first, not
# the second), before the per-kind checks.
ALL_ANCHORS = {anchor for kind in PATTERNS for anchor in kind.anchors}
ANY_GATE_WORD = re.compile(_trie({gate_word(anchor) for anchor in ALL_ANCHORS}))
ANY_ANCHOR = re.compile(_trie(ALL_ANCHORS))

PRIVATE_KEY = next(kind for kind in PATTERNS if kind.name == "private_key")
AWS_SECRET = next(kind for kind in PATTERNS if kind.name == "aws_secret_access_key")
