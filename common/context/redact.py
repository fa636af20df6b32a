"""Server-side redaction of high-precision secret kinds in what `POST /notes` and
`POST /hydrate` store.

The server does not trust the client to have redacted (the CLI does, with
detect-secrets; a plain HTTP client may not).  This module is the Lambda path's own,
much smaller check: one set of compiled patterns, one per kind, built once at import and
applied to every string of the validated request model (never to the raw JSON text).

Why it is fast (a 5 MiB snapshot scans in ~50 ms, see docs/performance.md) and linear in
the input (a hostile body must not make it slower):
- one compiled alternation of every kind's literal anchors runs over the lower-cased
  string first; most strings contain none, so they cost one `lower()` and one C-speed
  search, and no pattern runs at all (before that gate, ten per-kind Python-level anchor
  loops per string were ~80% of the scan: 289 ms of 5 MiB);
- a pattern runs on a string only if the string contains one of its own anchors, and
  every match of a kind contains one of its anchors (lower-cased), so the gate never
  changes what is found;
- every pattern starts with a literal, so the engine's prefix search skips to candidates;
  the left-boundary lookbehind right after it means only the first position of a run of
  token characters can start a long match;
- every repetition is bounded (`{m,n}`) and possessive (`{m,n}+`) where what follows
  cannot overlap it, so a failed attempt never backtracks into it; no repetition is
  nested in another.  Each start position costs bounded work: linear overall.
- A PEM private key is found by its BEGIN line and extends, in plain code, to its END line
  (whatever lies between: RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` and
  `DEK-Info: ...`, blank lines, CRLF) or, with no END (a truncated paste), over the
  header and base64 lines that follow.  Each search is bounded by the next BEGIN and by
  64 KiB, so the work stays linear.

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


def _kind(name: str, anchors: tuple[str, ...], pattern: str, flags: int = 0) -> Kind:
    return Kind(name, anchors, re.compile(pattern, flags))


# Every pattern starts with a literal (or a small class), so the regex engine's prefix
# search skips everything else at C speed; the left-boundary lookbehind comes right after
# that literal.
PATTERNS: tuple[Kind, ...] = (
    # Only the BEGIN line: the block's extent (headers, body, END line) is found in code,
    # see _pem_block_end.
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
    # one is found in code around the id's placeholder (_secret_next_to_id), hence the
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


_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]{1,40}\]")


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


def _gate_word(anchor: str) -> str:
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
_ALL_ANCHORS = {anchor for kind in PATTERNS for anchor in kind.anchors}
_ANY_GATE_WORD = re.compile(_trie({_gate_word(anchor) for anchor in _ALL_ANCHORS}))
_ANY_ANCHOR = re.compile(_trie(_ALL_ANCHORS))

# --- PEM blocks ----------------------------------------------------------------------
# Longer than any real key (an RSA-16384 PEM is ~12 KiB, a PGP key block with subkeys a
# few tens of KiB): the bound on every search from one BEGIN line.
_PEM_MAX_BLOCK = 65536
_PEM_BEGIN = "-----BEGIN "
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----")
# A line of a truncated block: `Name: value` (RFC 1421 / RFC 4880 armor headers, only
# before the body), a header's continuation (leading blank), base64 (a JSON-escaped `\n`
# included), or blank.  CR of CRLF is part of the line ending, not of the content.
_PEM_LINE = re.compile(r"[^\r\n]{0,4096}+(?:\r\n|\r|\n)?")
_PEM_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9\-]{0,63}+:[ \t]")
_PEM_BASE64 = re.compile(r"[A-Za-z0-9+/=\\]{1,4096}")
_WORD = re.compile(r"[^ \t]{1,4096}")
_LONG_WORD = 16


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact_text(text: str, found: Counter[str] | None = None) -> str:
    """`text` with every match replaced; counts each kind into `found`.  A value that is
    already a placeholder (the client redacted it) is left alone and not counted."""
    if not text:
        return text
    lowered = text.lower()
    if _ANY_GATE_WORD.search(lowered) is None or _ANY_ANCHOR.search(lowered) is None:
        return text  # _cannot_match is the first half of this, inlined in the model walk
    for kind in PATTERNS:
        if any(anchor in lowered for anchor in kind.anchors):
            text = _apply(kind, text, found)
    return text


def redact_private_keys(text: str, found: Counter[str] | None = None) -> str:
    """Only the PEM kind: for a line-based scanner (the CLI's detect-secrets) to run
    after, so a block is replaced whole before any line of it is looked at alone."""
    if "-----BEGIN" not in text:
        return text
    return _redact_pem_blocks(_PRIVATE_KEY.pattern, text, found)


_PRIVATE_KEY = next(kind for kind in PATTERNS if kind.name == "private_key")


def _apply(kind: Kind, text: str, found: Counter[str] | None) -> str:
    if kind is _PRIVATE_KEY:
        return _redact_pem_blocks(kind.pattern, text, found)
    text = kind.pattern.sub(_replacer(kind.name, found), text)
    if kind is _AWS_SECRET:
        text = _secret_next_to_id(text, found)
    return text


_AWS_SECRET = next(kind for kind in PATTERNS if kind.name == "aws_secret_access_key")
_AWS_ID_PLACEHOLDER = "[REDACTED:aws_access_key_id]"
# Within 40 characters (no placeholder between) after or before an access key id's
# placeholder: a 40-character base64 word that is not a lower-case hex commit sha.
# Searched only in those windows (one regex over the whole text, starting at every
# word, cost 10x the other kinds together on 5 MiB).
_NEAR = 40
_SECRET_AFTER_ID = re.compile(
    r"[^\[\]]{1,40}?(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    r"(?<![0-9a-f]{40})"
)
_SECRET_BEFORE_ID = re.compile(
    r"(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])(?<![0-9a-f]{40})"
    r"[^\[\]]{1,40}\Z"
)


def _secret_next_to_id(text: str, found: Counter[str] | None) -> str:
    """A secret access key next to an access key id's placeholder, redacted (the id's
    kind ran first; a placeholder the client wrote counts as well)."""
    if _AWS_ID_PLACEHOLDER not in text:
        return text
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces
    at = text.find(_AWS_ID_PLACEHOLDER)
    while at != -1:
        before = _SECRET_BEFORE_ID.search(text, max(done, at - _NEAR - 41), at)
        if before is not None:
            pieces += [text[done : before.start("v")], placeholder("aws_secret_access_key")]
            done = before.end("v")
            _count(found)
        end = at + len(_AWS_ID_PLACEHOLDER)
        after = _SECRET_AFTER_ID.match(text, end, end + _NEAR + 41)
        if after is not None:
            pieces += [text[done : after.start("v")], placeholder("aws_secret_access_key")]
            done = after.end("v")
            _count(found)
        at = text.find(_AWS_ID_PLACEHOLDER, max(end, done))
    return "".join(pieces) + text[done:] if pieces else text


def _count(found: Counter[str] | None) -> None:
    if found is not None:
        found["aws_secret_access_key"] += 1


def _redact_pem_blocks(begin: re.Pattern[str], text: str, found: Counter[str] | None) -> str:
    """Every BEGIN ... PRIVATE KEY line and its whole block replaced by one placeholder."""
    pieces: list[str] = []
    position = 0
    while (match := begin.search(text, position)) is not None:
        pieces += [text[position : match.start()], placeholder("private_key")]
        if found is not None:
            found["private_key"] += 1
        position = _pem_block_end(text, match.end())
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _pem_block_end(text: str, body_start: int) -> int:
    """Where the block whose BEGIN line ends at `body_start` ends: after its END line, or,
    truncated (no END before the next BEGIN or within the bound), after the last header
    or base64 line that follows, so no part of the body is left behind."""
    next_begin = text.find(_PEM_BEGIN, body_start, body_start + _PEM_MAX_BLOCK)
    limit = next_begin if next_begin != -1 else min(len(text), body_start + _PEM_MAX_BLOCK)
    end_line = _PEM_END.search(text, body_start, limit)
    if end_line is not None:
        return end_line.end()
    return _truncated_block_end(text, body_start, limit)


def _truncated_block_end(text: str, position: int, limit: int) -> int:
    end = position
    in_headers = True  # headers come first (RFC 1421 section 4.4), then the body
    after_header = in_body = False
    while position < limit:
        line = _PEM_LINE.match(text, position, limit)
        if line is None or line.end() == position:
            break
        content = line.group(0).rstrip("\r\n")
        if not content.strip():
            if in_body:
                break  # a body has no blank line: what follows is something else
        elif in_headers and _PEM_HEADER.match(content):
            after_header = True
            end = position + len(content)
        elif after_header and content[:1] in (" ", "\t"):
            end = position + len(content)  # a folded header value
        else:
            in_headers = after_header = False
            material, whole_line = _key_material(content, in_body)
            end = position + material if material else end
            in_body = in_body or material > 0
            if not whole_line:
                break  # ordinary text: the block stopped here
        position = line.end()
    return end


def _key_material(content: str, in_body: bool) -> tuple[int, bool]:
    """(length of the line's leading base64, whether that is the whole line).  Short
    words count only inside a body or next to a long one (a key flattened onto one line
    has 64-character runs): a line of short words right after BEGIN is prose."""
    end, longest, words = 0, 0, 0
    for word in _WORD.finditer(content):
        if not _PEM_BASE64.fullmatch(word.group(0)):
            prefix = _PEM_BASE64.match(word.group(0))  # `MIIE...,`: the key ran into text
            if prefix is not None and (in_body or max(longest, prefix.end()) >= _LONG_WORD):
                return word.start() + prefix.end(), False
            return (end if in_body or longest >= _LONG_WORD else 0), False
        end, words = word.end(), words + 1
        longest = max(longest, len(word.group(0)))
    if words > 1 and longest < _LONG_WORD and not in_body:
        return 0, False
    return end, True


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


# Lists (the commits, changes and markers of a snapshot) are gated a chunk at a time:
# the strings of 64 items joined and searched once, so a chunk with no anchor costs
# one search instead of one per string (the 100 KB hydrate scan: 1.2 -> 0.5 ms).  A
# gate word never contains "\n", so no match can span two joined strings.
_CHUNK = 64


def _redact_list(items: list[Any], counts: Counter[str]) -> list[Any]:
    cleaned: list[Any] = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        texts = _flat_texts(chunk)
        if texts is not None and _cannot_match("\n".join(texts)):
            cleaned += chunk
        else:
            cleaned += [_redact_field(item, counts) for item in chunk]
    return cleaned


def _flat_texts(chunk: list[Any]) -> list[str] | None:
    """Every string of `chunk` (strings, and models of strings and scalars), or None
    when something is nested deeper: the walk then decides item by item."""
    texts: list[str] = []
    for item in chunk:
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif isinstance(item, BaseModel):
            for value in item.__dict__.values():
                if type(value) is str:
                    texts.append(value)
                elif type(value) not in _SCALARS:
                    return None
        elif kind not in _SCALARS:
            return None
    return texts


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
    _redact_model_fields(model, counts)
    return dict(counts)


def _redact_model_fields(model: BaseModel, counts: Counter[str]) -> None:
    # The instance __dict__ holds exactly the validated fields (extras and private
    # attributes live elsewhere); reading it directly instead of `model_fields` + getattr
    # is a third of the walk over the 29,000 models of the 5 MiB snapshot.
    # The common cases inline (a string the gate lets through, a number, None): ~20% of
    # the walk is the calls they would cost.
    values = model.__dict__
    for name, current in list(values.items()):
        kind = type(current)
        if kind in _SCALARS or (kind is str and _cannot_match(current)):
            continue
        updated = _redact_field(current, counts)
        if updated is not current:
            values[name] = updated


_SCALARS = frozenset({int, float, bool, type(None)})


def _cannot_match(text: str) -> bool:
    """True when no pattern can apply to `text`: it holds no anchor (redact_text's gate)."""
    return not text or _ANY_GATE_WORD.search(text.lower()) is None


def _redact_field(value: Any, counts: Counter[str]) -> Any:
    if isinstance(value, str):
        if _cannot_match(value):
            return value
        cleaned = redact_text(value, counts)
        return value if cleaned == value else cleaned
    if isinstance(value, list):
        return _redact_list(value, counts)
    if isinstance(value, BaseModel):
        _redact_model_fields(value, counts)
        return value
    if isinstance(value, dict):
        return {k: _redact_field(v, counts) for k, v in value.items()}
    return value
