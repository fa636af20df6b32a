"""The parts the rehydrate document is made of: entries, groups, sections, the words
that count them, and the entries people wrote (notes, markers, free text).

`document.py` builds the sections from a snapshot and `output.py` cuts them to a budget;
both build on these.  Every value reaches the markdown through `markup`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.context.render import markup as m
from common.context.render.markup import Md
from common.context.render.tokens import line_tokens

SHORT_ITEM_TOKENS = 24  # an entry's compact form, when even its first entry is too long

# A line that is itself a marker comment (the next marker, not context for this one).
_MARKER_LINE = re.compile(r"(?:#|//|/\*|<!--|--|;|\*)\s*(?:TODO|FIXME|NOTE|HACK|QUESTION)\b")
# Lines that carry nothing: closers, fences, bare keywords, comment punctuation.
_EMPTY_LINE = re.compile(
    r"(?:[\s{}()\[\];,]*|(?:```|~~~)\S*|pass|\.\.\.|…|return|break|continue|else:?|try:|"
    r"finally:|end|fi|done|esac|then|do|#+|//+|/\*+|\*+/?|<!--|-->|--|;+)",
    re.IGNORECASE,
)


@dataclass
class Item:
    """One entry: its markdown (`text`, maybe several lines the renderer controls), its
    structured form, and a compact form for a tight budget."""

    text: Md
    data: dict[str, Any]
    short: Callable[[], Md] | None = None  # made only when a budget needs it


@dataclass
class Group:
    """Items of one kind under an optional heading; `noun` names one ("1 more commit")."""

    heading: Md | None
    items: list[Item]
    key: str
    noun: str
    kept: list[Md] | None = None  # the renderings kept after a cut; None = all, in full

    def kept_texts(self) -> list[Md]:
        return [i.text for i in self.items] if self.kept is None else self.kept

    def omitted(self) -> int:
        return 0 if self.kept is None else len(self.items) - len(self.kept)


@dataclass
class Section:
    key: str
    title: Md
    intro: list[Md] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    def item_count(self) -> int:
        return sum(len(g.items) for g in self.groups)

    def omitted(self) -> int:
        return sum(g.omitted() for g in self.groups)

    def kept_data(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for group in self.groups:
            count = len(group.items) if group.kept is None else len(group.kept)
            rows.extend(item.data for item in group.items[:count])
        return rows


@dataclass(frozen=True)
class Facts:
    """What the snapshot holds, for persona tasks that apply only when it holds it."""

    counts: Mapping[str, int]

    def get(self, name: str) -> int:
        return int(self.counts.get(name, 0))


@dataclass
class Document:
    front_matter: dict[str, Any]
    title: Md
    sections: list[Section]
    left_out: list[tuple[Section, int]] = field(default_factory=list)
    max_tokens: int | None = None
    truncated: bool = False
    shortened: list[str] = field(default_factory=list)  # front-matter fields cut to fit
    facts: Facts | None = None
    plain_title: str = ""


# --- words ------------------------------------------------------------------------------

_IRREGULAR = {"person": "people", "focus area": "focus areas"}


def plural(noun: str, count: int) -> str:
    """English plural of the nouns the document counts ("1 commit", "2 categories")."""
    if count == 1:
        return noun
    if noun in _IRREGULAR:
        return _IRREGULAR[noun]
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def counted(count: int, noun: str) -> str:
    """ "1 commit", "2 commits"."""
    return f"{count} {plural(noun, count)}"


def more_line(count: int, noun: str) -> Md:
    return m.literal(f"_... and {count} more {plural(noun, count)}_")


def more_line_of(cuts: list[tuple[int, str]]) -> Md:
    """One line for several cuts: "_... and 3 more notes and 1 more marker_"."""
    phrases = [f"{count} more {plural(noun, count)}" for count, noun in cuts]
    said = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return m.literal(f"_... and {said}_")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def relative_age(then: Any, now: datetime | None) -> str:
    """ "3 hours ago", relative to the snapshot time (not the reader's clock)."""
    moment = parse_time(then)
    if moment is None or now is None or moment.tzinfo is None or now.tzinfo is None:
        return "at an unknown time"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "after the snapshot"
    for size, unit in (
        (31_536_000, "year"),
        (2_592_000, "month"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            return f"{counted(int(seconds // size), unit)} ago"
    return "just now"


def subject(message: Any) -> str:
    lines = m.split_lines(str(message or "").strip())
    return lines[0].strip() if lines else ""


def clip(text: str, tokens: int) -> str:
    """The longest prefix of `text` (one line) estimated at most `tokens`, "…" if cut."""
    line = " ".join(m.split_lines(text))
    if line_tokens(line) <= tokens:
        return line
    line = line[: 4 * tokens + 4]  # every character costs at least 1/4 token
    low, high = 0, len(line)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if line_tokens(line[:middle]) + 1 <= tokens:
            low = middle
        else:
            high = middle - 1
    return line[:low].rstrip() + "…"


def location(path: Any, line: Any) -> str:
    return f"{path}:{line}" if line else str(path)


def _first_and_rest(text: Any) -> tuple[str, list[str]]:
    """A free text's first non-blank line, and the lines after it (blank edges trimmed)."""
    lines = m.split_lines(str(text or ""))
    while lines and m.is_blank(lines[0]):
        lines.pop(0)
    while lines and m.is_blank(lines[-1]):
        lines.pop()
    if not lines:
        return "", []
    return lines[0], lines[1:]


def free_text(prefix: Md, text: Any, suffix: Md = m.EMPTY) -> tuple[Md, Callable[[], Md]]:
    """(full, short) markdown for a list item of free text: the first line inline,
    further lines in a fenced block under it; the short form is the first line clipped."""
    first, rest = _first_and_rest(text)
    # An item is never left without text: an empty list item would change the structure.
    head = m.fmt("{}{}{}", prefix, m.inline(first) or m.literal("(empty)"), suffix)
    full = m.join("\n", [head, m.fenced(rest, "  ")]) if rest else head

    def short() -> Md:
        return m.fmt(
            "{}{}", prefix, m.inline(clip(first, SHORT_ITEM_TOKENS)) or m.literal("(empty)")
        )

    return full, short


def text_item(prefix: Md, text: str, data: dict[str, Any]) -> Item:
    full, short = free_text(prefix, text)
    return Item(full, {**data, "text": text}, short)


def constant(text: Md) -> Callable[[], Md]:
    return lambda: text


def meaningful_context(context: Any) -> list[str]:
    """The context lines that say something (no blank lines, closers, fences, `pass`,
    nor the next marker's own comment line)."""
    return [
        line
        for line in m.split_lines(str(context or ""))
        if not _EMPTY_LINE.fullmatch(line.strip()) and not _MARKER_LINE.search(line)
    ]


def marker_item(marker: Mapping[str, Any], group: str) -> Item:
    where = m.code(location(marker.get("path"), marker.get("line")))
    text = m.fmt("- {} **{}** {}", where, marker.get("kind"), marker.get("text"))
    kind, said = marker.get("kind"), str(marker.get("text"))
    context = meaningful_context(marker.get("context"))
    if len(context) == 1:
        text = m.join("\n", [text, m.fmt("  > {}", m.code(context[0].strip()))])
    elif context:
        text = m.join("\n", [text, m.fenced(context, "  ")])
    data = {
        "group": group,
        **{k: marker.get(k) for k in ("path", "line", "kind", "text", "context")},
    }
    return Item(text, data, lambda: m.fmt("- {} **{}** {}", where, kind, clip(said, 24)))


def note_item(note: Mapping[str, Any], group: str) -> Item:
    source = note.get("source") or {}
    suffix = m.EMPTY
    if isinstance(source, Mapping) and source.get("path"):
        suffix = m.fmt(" ({})", m.code(location(source["path"], source.get("line"))))
    if note.get("tags"):
        tags = m.join(" ", (m.fmt("#{}", tag) for tag in note["tags"]))
        suffix = m.fmt("{} {}", suffix, tags)
    full, short = free_text(m.literal("- "), note.get("text"), suffix)
    data = {
        "group": group,
        **{k: note.get(k) for k in ("note_id", "kind", "text", "source", "tags", "created_at")},
    }
    return Item(full, data, short)


def commit_item(
    commit: Mapping[str, Any], now: datetime | None, group: str, with_author: bool = True
) -> Item:
    sha = str(commit.get("sha", ""))[:7]
    title = subject(commit.get("message"))
    author = str(commit.get("author") or "unknown")
    age = relative_age(commit.get("timestamp"), now)
    data = {
        "group": group,
        "sha": commit.get("sha"),
        "subject": title,
        "author": commit.get("author"),
        "timestamp": commit.get("timestamp"),
        "age": age,
    }
    if with_author:
        text = m.fmt("- {} {} — {}, {}", m.code(sha), title, author, m.literal(age))
    else:
        text = m.fmt("- {} {} — {}", m.code(sha), title, m.literal(age))
    return Item(text, data, lambda: m.fmt("- {} {}", m.code(sha), clip(title, SHORT_ITEM_TOKENS)))


def change_label(change: Mapping[str, Any]) -> Md:
    status = str(change.get("status", "modified"))
    if status == "renamed" and change.get("old_path"):
        return m.fmt("{} (renamed from {})", m.code(change.get("path")), m.code(change["old_path"]))
    return m.fmt("{} ({})", m.code(change.get("path")), status)
