"""Server-side redaction of high-precision secret kinds in what `POST /notes` and
`POST /hydrate` store (`notes.create_note` and `snapshots.hydrate` call `redact_model`,
so every caller's note or snapshot is redacted before it is stored).

The server does not trust the client to have redacted (the CLI does, with
detect-secrets; a plain HTTP client may not).  This module is the Lambda path's own,
much smaller check: one set of compiled patterns, one per kind (common/context/
redact_kinds.py), built once at import and applied to every string of the validated
request model (never to the raw JSON text); PEM blocks are extended in code
(common/context/redact_pem.py).

Why it is fast (a 5 MiB snapshot scans in ~50 ms, see docs/performance.md) and linear in
the input (a hostile body must not make it slower):
- one compiled alternation of every kind's literal anchors runs over the lower-cased
  string first; most strings contain none, so they cost one `lower()` and one C-speed
  search, and no pattern runs at all (before that gate, ten per-kind Python-level anchor
  loops per string were ~80% of the scan: 289 ms of 5 MiB);
- a pattern runs on a string only if the string contains one of its own anchors, and
  every match of a kind contains one of its anchors (lower-cased), so the gate never
  changes what is found;
- each pattern, and the PEM block search, costs bounded work per start position (see
  the two modules).

A match is replaced by `[REDACTED:<kind>]`; for assignments (`password = "..."`,
`aws_secret_access_key: "..."`, `scheme://user:pass@`) only the value is replaced, so the
text still says what was there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from common.context.redact_kinds import (
    ANY_ANCHOR,
    ANY_GATE_WORD,
    AWS_SECRET,
    KINDS,
    PATTERNS,
    PLACEHOLDER,
    PRIVATE_KEY,
    Kind,
    placeholder,
)
from common.context.redact_pem import redact_pem_blocks

__all__ = [
    "KINDS",
    "PATTERNS",
    "placeholder",
    "redact_model",
    "redact_private_keys",
    "redact_text",
    "redact_value",
]


def redact_text(text: str, found: Counter[str] | None = None) -> str:
    """`text` with every match replaced; counts each kind into `found`.  A value that is
    already a placeholder (the client redacted it) is left alone and not counted."""
    if not text:
        return text
    lowered = text.lower()
    if ANY_GATE_WORD.search(lowered) is None or ANY_ANCHOR.search(lowered) is None:
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
    return redact_pem_blocks(PRIVATE_KEY.pattern, text, found)


def _apply(kind: Kind, text: str, found: Counter[str] | None) -> str:
    if kind is PRIVATE_KEY:
        return redact_pem_blocks(kind.pattern, text, found)
    text = kind.pattern.sub(_replacer(kind.name, found), text)
    if kind is AWS_SECRET:
        text = _secret_next_to_id(text, found)
    return text


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


def _replacer(kind: str, found: Counter[str] | None) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if "v" in match.re.groupindex:
            start, end = match.start("v") - match.start(), match.end("v") - match.start()
            if PLACEHOLDER.fullmatch(whole[start:end]):
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
    return not text or ANY_GATE_WORD.search(text.lower()) is None


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
