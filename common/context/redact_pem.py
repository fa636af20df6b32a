"""PEM private key blocks, redacted whole (a kind of common/context/redact_kinds.py).

A block is found by its BEGIN line (the `private_key` pattern) and extends, in plain
code, to its END line (whatever lies between: RFC 1421 headers such as
`Proc-Type: 4,ENCRYPTED` and `DEK-Info: ...`, blank lines, CRLF) or, with no END (a
truncated paste), over the header and base64 lines that follow.  Each search is bounded
by the next BEGIN and by 64 KiB, so the work stays linear.
"""

from __future__ import annotations

import re
from collections import Counter

from common.context.redact_kinds import placeholder

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


def redact_pem_blocks(begin: re.Pattern[str], text: str, found: Counter[str] | None) -> str:
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
