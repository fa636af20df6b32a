"""The only way a value enters the rehydrate document: escaped here, by one rule.

The document is read by AI assistants, so a value that could start a heading, a list
item, a fence, a front-matter delimiter, an HTML block or a table row would let a
client forge instructions in it.  The renderer therefore builds markdown only from
`Md` (a `str` subclass the type checker tells apart) and `Md` is made only here:

- `inline(value)`: any value as inline text.  Line breaks and control characters fold
  to one space (so a value never has a line of its own), every character that opens
  an inline construct (backslash, backtick, `*`, `_` at a word edge, `<`, `[`, `|`,
  `~`) is backslash-escaped, and so is a leading block opener (`#`, `>`, `+`, `-`,
  `=`, `1.` / `1)`) and a trailing `#` (an ATX closing sequence), so the value reads
  the same wherever the renderer puts it, even first on a line.
- `code(value)`: an inline code span whose fence is longer than any backtick run in
  the value (padded when the value starts or ends with a backtick or space, so
  CommonMark gives the value back exactly).
- `fenced(text, indent)`: multi-line text (note bodies, code context) keeps its lines
  only inside a fenced block whose fence is longer than any backtick run in it.
- `fmt(template, *values)`: a renderer-written template; values that are not `Md` yet
  go through `inline`.

The YAML front matter uses `yaml_scalar`: double-quoted scalars with every character
YAML 1.2 cannot carry raw, and every invisible one, escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


class Md(str):
    """Markdown the renderer vouches for: made by the functions of this module only."""

    __slots__ = ()


EMPTY = Md("")


# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators: folded.
_FOLD = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")
_NEEDS_FOLD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|  ")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_ALWAYS = str.maketrans({c: "\\" + c for c in "\\`*<[|~"})
# `_` opens or closes emphasis only at a word edge (CommonMark's intraword rule).
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_ORDERED_START = re.compile(r"^(\d{1,9})([.)])")
_BLOCK_OPENERS = frozenset("#>+-=")
_BACKTICK_RUNS = re.compile(r"`+")
_CODE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """Lone surrogates (never valid UTF-8) become U+FFFD."""
    return _SURROGATES.sub("\ufffd", text) if _has_surrogate(text) else text


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escape_inline(value: Any) -> str:
    """The inline-escaping rule (see the module docstring)."""
    text = _clean(value if isinstance(value, str) else str(value))
    if _NEEDS_FOLD.search(text):  # most values have nothing to fold: skip the rewrite
        text = _FOLD.sub(" ", text)
    text = text.strip(" ")
    if not text:
        return ""
    text = text.translate(_ALWAYS)
    if "_" in text:
        text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    if text[0] in _BLOCK_OPENERS:
        text = "\\" + text
    else:
        text = _ORDERED_START.sub(r"\1\\\2", text, count=1) if text[0].isdigit() else text
    if text.endswith("#"):
        text = text[:-1] + "\\#"
    return text


def inline(value: Any) -> Md:
    return Md(escape_inline(value))


def is_blank(value: Any) -> bool:
    """True when the value folds to nothing (spaces and control characters only)."""
    return not _FOLD.sub("", str(value))


def code(value: Any) -> Md:
    """An inline code span that gives `value` back exactly (line breaks read as spaces)."""
    text = _FOLD.sub(lambda found: " " * len(found.group()), _clean(str(value)))
    if not text:
        return Md("(empty)")
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if (text[0] in "` " or text[-1] in "` ") and text.strip(" "):
        text = f" {text} "
    return Md(f"{fence}{text}{fence}")


def fenced(lines: Iterable[str], indent: str = "") -> Md:
    """Lines kept as they are inside a fenced block only the renderer can close."""
    body = [_CODE_CONTROLS.sub("\ufffd", _clean(line)) for line in lines]
    longest = max((len(run) for line in body for run in _BACKTICK_RUNS.findall(line)), default=0)
    fence = indent + "`" * max(3, longest + 1)
    return Md("\n".join([fence, *(f"{indent}{line}".rstrip() for line in body), fence]))


def split_lines(value: Any) -> list[str]:
    """Every line break CommonMark knows (and the Unicode ones) splits a line."""
    return str(value).splitlines()


def fmt(template: str, *values: Any) -> Md:
    """`template` is the renderer's own text; every value not already `Md` is escaped."""
    return Md(template.format(*(v if isinstance(v, Md) else inline(v) for v in values)))


def join(separator: str, parts: Iterable[Md]) -> Md:
    return Md(separator.join(parts))


def literal(text: str) -> Md:
    """Text written by the renderer itself (a heading, a label), never a value."""
    return Md(text)


# --- YAML 1.2 front matter --------------------------------------------------------------

_YAML_NAMED = {
    "\x00": "\\0",
    "\x07": "\\a",
    "\x08": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\x0b": "\\v",
    "\x0c": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def _yaml_char(char: str) -> str:
    named = _YAML_NAMED.get(char)
    if named is not None:
        return named
    if char == " " or char.isprintable():
        return char
    # Not printable: what YAML 1.2 cannot hold raw (C0, DEL, C1, surrogates, U+FFFE)
    # and what a reader cannot see (format characters such as the BOM, zero-width and
    # bidi controls; separators other than the space; unassigned code points).
    code_point = ord(char)
    if code_point <= 0xFF:
        return f"\\x{code_point:02X}"
    if code_point <= 0xFFFF:
        return f"\\u{code_point:04X}"
    return f"\\U{code_point:08X}"


def yaml_scalar(value: Any) -> str:
    """A YAML 1.2 scalar on one line: integers and null plain, everything else a
    double-quoted string that a YAML 1.2 parser gives back exactly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, without a pass per character
    return '"' + "".join(_yaml_char(c) for c in text) + '"'
