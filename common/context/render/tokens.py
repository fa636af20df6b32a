"""A token estimate that does not undercount: BPE-shaped pieces, each charged by its class.

No tokenizer ships with the Lambda layer, and "4 characters a token" undercounts CJK
about 6x, emoji about 8x and hex digests about 2.5x.  This estimate splits a line the way
byte-level BPE tokenizers pre-split text (letter runs, digit runs, punctuation runs,
spaces, runs of non-ASCII characters) and charges each piece by its class: an ASCII
letter run one token per 4 letters (rounded up), a digit run one per 3 (cl100k merges
at most three), a run mixing letters and digits (hex digests, ids) 0.65 a character,
punctuation one per 2, and each character outside ASCII by script: CJK ideographs 1.5,
kana 1.1, Hangul 1.35, Cyrillic 0.55, Greek and accented Latin 1, emoji and other
symbols 3, anything else its UTF-8 byte count (the byte-level worst case).

Calibrated against OpenAI's cl100k_base (tiktoken with its published BPE file;
docs/context.md has the table and how to rerun it).  Over every sample tried (vim and
gnupg translations in 13 languages, this repository's code and docs, rendered
documents, digests, emoji) the estimate of a whole text is 1.0-1.6x the real count,
never below it.

The estimate is additive over lines: the estimate of a text is the sum of its lines'
estimates plus one token per line break, so the budget can be planned item by item and
still agree exactly with the estimate of the whole document.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

# An optional space + an ASCII alphanumeric run, an ASCII punctuation run, a space/tab
# run, a run of non-ASCII characters, or any other single character (controls).
_PIECES = re.compile(r" ?[0-9A-Za-z]+| ?[!-/:-@\[-`{-~]+|[ \t]+|[^\x00-\x7f]+|.", re.S)
_LETTERS_PER_TOKEN = 4
_DIGITS_PER_TOKEN = 3
_MIXED_TOKENS_PER_CHAR = 0.65
_PUNCTUATION_PER_TOKEN = 2
_SPACES_PER_TOKEN = 4

# (first code point of a block, tokens per character) in ascending order; a character
# costs the value of the last block starting at or below it.
_BLOCKS: tuple[tuple[int, float], ...] = (
    (0x0080, 1.5),  # Latin-1 supplement, Latin extended (é, ß, ł)
    (0x0250, 1.5),  # IPA, spacing modifiers, combining marks
    (0x0370, 1.0),  # Greek
    (0x0400, 0.55),  # Cyrillic
    (0x0530, 2.0),  # Armenian, Hebrew, Arabic, Indic scripts, Thai, Georgian …
    (0x1100, 1.35),  # Hangul jamo
    (0x1200, 2.0),
    (0x2000, 3.0),  # general punctuation, arrows, math, dingbats, symbols (⚠ ✅)
    (0x2E80, 1.5),  # CJK radicals
    (0x3000, 1.25),  # CJK punctuation, kana
    (0x3400, 1.5),  # CJK ideographs (extension A and unified)
    (0xA000, 2.0),
    (0xAC00, 1.35),  # Hangul syllables
    (0xD7B0, 3.0),
    (0xF900, 1.5),  # CJK compatibility ideographs
    (0xFB00, 2.0),
    (0xFE00, 1.0),  # variation selectors (the ️ of ⚠️)
    (0xFE10, 2.0),
    (0xFF00, 1.25),  # full-width forms (commas, brackets)
    (0xFFF0, 3.0),
    (0x10000, 4.0),  # other planes: byte-level worst case …
    (0x1F000, 3.0),  # … but emoji are cheaper than that
    (0x20000, 1.5),  # CJK extensions B to F
    (0x30000, 4.0),
)
_STARTS = tuple(start for start, _ in _BLOCKS)


def _char_cost(code: int) -> float:
    if code == 0x200D:  # zero-width joiner inside emoji sequences
        return 1.0
    low, high = 0, len(_STARTS) - 1
    while low < high:  # the last block starting at or below `code`
        middle = (low + high + 1) // 2
        if _STARTS[middle] <= code:
            low = middle
        else:
            high = middle - 1
    return _BLOCKS[low][1]


@lru_cache(maxsize=8192)
def _non_ascii_cost(piece: str) -> float:
    return sum(_char_cost(ord(c)) for c in piece)


def _ascii_cost(piece: str) -> float:
    body = piece[1:] if piece[0] == " " and len(piece) > 1 else piece
    first = body[0]
    if first.isalnum():
        if body.isalpha():
            return -(-len(body) // _LETTERS_PER_TOKEN)
        if body.isdigit():  # cl100k keeps the space before a number as its own token
            return -(-len(body) // _DIGITS_PER_TOKEN) + (len(body) < len(piece))
        return len(body) * _MIXED_TOKENS_PER_CHAR
    if first in " \t":
        return -(-len(piece) // _SPACES_PER_TOKEN)
    return -(-len(body) // _PUNCTUATION_PER_TOKEN)


def line_tokens(line: str) -> int:
    """The estimate for one line (no line break in it)."""
    total = 0.0
    for piece in _PIECES.findall(line):
        total += _ascii_cost(piece) if piece[0].isascii() else _non_ascii_cost(piece)
    return math.ceil(total)


def estimate_tokens(text: str) -> int:
    """The estimate for a text: its lines plus one token per line break."""
    lines = text.split("\n")
    return sum(line_tokens(line) for line in lines) + len(lines) - 1
