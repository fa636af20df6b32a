"""Markdown and JSON views of a `Document`, and the token budget that cuts it to size.

Budget (`max_tokens`, estimated by `tokens.estimate_tokens` on the markdown): when the
whole document does not fit, it is rebuilt compact (long values in the title and the
intro lines clipped) and planned from its skeleton — front matter, title, section
headings and intros, and for every group a "... and N more <nouns>" line.  Then
entries are added by value:

1. every non-empty section gets its first entry, most valuable section first
   (`VALUE_ORDER`: what is specific to the snapshot before generic persona guidance),
   in its compact form if the full one does not fit;
2. then rounds: each section adds up to its weight of entries a round (its groups take
   turns), each group keeping a prefix of its entries (most recent / relevant first),
   until nothing more fits.

Only if the skeleton itself does not fit are whole sections left out (least valuable
first; a final line names them), and only if even that fails is the body cut at a line
with a note.  The front matter is never cut; its long string values are clipped (and
named under `shortened`) only when they alone would take a quarter of the budget.
The estimate is additive over lines, so the plan agrees with the final estimate; the
result always fits.  The JSON view carries the same cuts and the same estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.context.render.document import (
    VALUE_ORDER,
    WRITTEN,
    Document,
    Group,
    Item,
    Section,
    build,
    clip,
    counted,
    make_compact,
    more_line,
    more_line_of,
)
from common.context.render.markup import Md, yaml_scalar
from common.context.render.tokens import estimate_tokens, line_tokens

MIN_TOKENS, MAX_TOKENS = 200, 200_000
# Entries a section adds per round once each has its first: what the snapshot says
# about work in flight counts most.
WEIGHTS = {
    "newer_notes": 3,
    "project": 2,
    "since_last_snapshot": 3,
    "open_questions": 3,
    "current_changes": 2,
    "recent_progress": 3,
    "tasks": 2,
    "notes": 2,
    "decisions_constraints": 2,
    "development_velocity": 1,
    "operator_instructions": 1,
}
# Never the goal: it is kept whole whatever the budget.
_CLIPPABLE_FRONT_MATTER = ("constraints", "focus", "output")
# From this budget on, every non-empty section keeps at least one entry (Part 2's rule):
# what people wrote leaves room for the first entry of each generated section.
FULL_BUDGET = 1000
_TRUNCATION_NOTE = "_... cut to fit max_tokens._"


# --- markdown -------------------------------------------------------------------------


def _group_lines(group: Group) -> list[str]:
    kept = group.kept_texts()
    lines: list[str] = []
    if group.heading is not None and kept:
        lines.append(group.heading)
    lines.extend(kept)
    omitted = group.omitted()
    if omitted:
        lines.append(more_line(omitted, group.noun))
    return lines


def section_markdown(section: Section) -> str:
    """The section; a cut line always sits under the heading of what it counts: a group
    that kept entries ends with its own, under its `###` heading, and the groups cut to
    nothing share one line right under the section's heading, before any `###`."""
    lines: list[str] = [f"## {section.title}", ""]
    lines.extend(section.intro)
    emptied = [(g.omitted(), g.noun) for g in section.groups if not g.kept_texts()]
    if emptied:
        if lines[-1] != "":
            lines.append("")
        lines.append(more_line_of(emptied))
    for group in section.groups:
        if not group.kept_texts():
            continue
        if lines[-1] != "":
            lines.append("")  # a blank line before each group
        lines.extend(_group_lines(group))
    return "\n".join(lines).rstrip() + "\n"


def _yaml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    return yaml_scalar(value)


def front_matter_markdown(document: Document) -> str:
    body = "\n".join(f"{k}: {_yaml_value(v)}" for k, v in document.front_matter.items())
    return f"---\n{body}\n---\n"


def _left_out_line(document: Document) -> str:
    if not document.left_out:
        return ""
    names = ", ".join(
        f"{section.title} ({counted(count, 'entry')})" for section, count in document.left_out
    )
    return f"\n_Left out to fit max_tokens={document.max_tokens}: {names}._\n"


def to_markdown(document: Document) -> str:
    parts = [front_matter_markdown(document) + f"\n{document.title}\n"]
    parts.extend(section_markdown(s) for s in document.sections)
    text = "\n".join(parts) + _left_out_line(document)
    if document.truncated and document.max_tokens is not None:
        # The front matter and the title (the goal) stay whole.
        protected = len(front_matter_markdown(document)) + len(f"\n{document.title}\n")
        text = _truncate(text, document.max_tokens, protected)
    return text


def _truncate(text: str, max_tokens: int, protected: int) -> str:
    """Whole lines of the body while they fit, then a note; the front matter stays whole."""
    head, body = text[:protected], text[protected:].split("\n")
    used = estimate_tokens(head) + line_tokens(_TRUNCATION_NOTE) + 2
    kept: list[str] = []
    for line in body:
        cost = line_tokens(line) + 1
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    return head + "\n".join(kept) + "\n" + _TRUNCATION_NOTE + "\n"


def document_tokens(document: Document) -> int:
    return estimate_tokens(to_markdown(document))


def _fits(text: str, max_tokens: int) -> bool:
    # No piece costs less than a token per 5 characters (" abcd"): a text longer than
    # that is over budget without estimating it (saves ~0.1 s on a 500 kB document).
    return len(text) <= 5 * max_tokens and estimate_tokens(text) <= max_tokens


# --- the budget -----------------------------------------------------------------------


def _compact(item: Item) -> Md:
    return item.short() if item.short is not None else item.text


def _item_cost(text: str) -> int:
    """What adding this rendering to a group costs: its lines and their line breaks.
    (The group's "... and N more" line only gets shorter as N falls.)"""
    lines = text.split("\n")
    return sum(line_tokens(line) for line in lines) + len(lines)


def _first_entry_cost(group: Group) -> int:
    """About what a group's compact first entry costs with its heading and cut line."""
    heading = line_tokens(group.heading) + 1 if group.heading is not None else 0
    cut = line_tokens(more_line(max(1, len(group.items) - 1), group.noun)) + 2
    return _item_cost(_compact(group.items[0])) + heading + cut


@dataclass
class _Lane:
    """One section's progress while the budget is shared out."""

    section: Section
    turn: int = 0  # the group whose turn it is
    closed: set[int] = field(default_factory=set)  # groups whose next entry did not fit


class _Planner:
    """Shares the budget out.  A group's first entry changes more than its own lines
    (its heading appears, the line that spoke for the empty groups splits), so openings
    are checked against the real estimate of the document; later entries cost exactly
    their lines (the group's "... and N more" line only shortens), counted as added."""

    def __init__(self, document: Document, max_tokens: int) -> None:
        self.document = document
        self.max_tokens = max_tokens
        self.used = document_tokens(document)
        self.added: list[Group] = []  # in order, to undo if the final check disagrees
        by_key = {s.key: s for s in document.sections}
        self.lanes = [_Lane(by_key[key]) for key in VALUE_ORDER if key in by_key]
        self.held = 0  # tokens kept back for sections planned later

    def _try(self, group: Group, text: Md, reserve: int = 0) -> bool:
        assert group.kept is not None
        reserve += self.held
        if group.kept:
            cost = _item_cost(text)
            if self.used + cost + reserve > self.max_tokens:
                return False
            group.kept.append(text)
            self.used += cost
        else:
            if self.used + _item_cost(text) + reserve > self.max_tokens:
                return False  # cannot fit even before its heading: no need to render
            group.kept.append(text)
            total = document_tokens(self.document)
            if total + reserve > self.max_tokens:
                group.kept.pop()
                return False
            self.used = total
        self.added.append(group)
        return True

    def _take(self, group: Group, item: Item, allow_short: bool, reserve: int = 0) -> bool:
        if self._try(group, item.text, reserve):
            return True
        return allow_short and item.short is not None and self._try(group, item.short(), reserve)

    def _next(self, lane: _Lane) -> bool:
        """Add the next entry of the lane's groups, taking turns; False when none fits."""
        groups = lane.section.groups
        for step in range(len(groups)):
            index = (lane.turn + step) % len(groups)
            group = groups[index]
            if index in lane.closed or group.kept is None:
                continue
            if len(group.kept) >= len(group.items):
                lane.closed.add(index)
                continue
            # A group's first entry may be compact: better than a bare count.
            if self._take(group, group.items[len(group.kept)], allow_short=not group.kept):
                lane.turn = index + 1
                return True
            lane.closed.add(index)
        return False

    def run(self) -> None:
        """What people wrote first (first entries, then rounds), then what is generated.
        From FULL_BUDGET on, what people wrote holds back the compact first entry of every
        generated section, so none is reduced to a bare count."""
        written = [lane for lane in self.lanes if lane.section.key in WRITTEN]
        generated = [lane for lane in self.lanes if lane.section.key not in WRITTEN]
        if self.max_tokens >= FULL_BUDGET:
            self.held = sum(
                _first_entry_cost(lane.section.groups[0])
                for lane in generated
                if lane.section.groups and lane.section.groups[0].items
            )
        self._firsts(written)
        self._rounds(written)
        self.held = 0
        self._firsts(generated)
        self._rounds(generated)

    def _firsts(self, lanes: list[_Lane]) -> None:
        """Everyone's first entry, most valuable section first; an entry is taken in full
        only if that still leaves room for the compact first entries of those after it."""
        firsts = [
            (lane, lane.section.groups[0])
            for lane in lanes
            if lane.section.groups and lane.section.groups[0].items
        ]
        reserve = [_first_entry_cost(group) for _, group in firsts]
        for index, (lane, group) in enumerate(firsts):
            item = group.items[0]
            compact = item.short() if item.short is not None else None
            if self._try(group, item.text, sum(reserve[index + 1 :])) or (
                compact is not None and self._try(group, compact)
            ):
                lane.turn = 1

    def _rounds(self, lanes: list[_Lane]) -> None:
        active = [lane for lane in lanes if lane.section.groups]
        while active:
            still = []
            for lane in active:
                added = 0
                while added < WEIGHTS.get(lane.section.key, 1) and self._next(lane):
                    added += 1
                if added and len(lane.closed) < len(lane.section.groups):
                    still.append(lane)
            active = still

    def undo(self) -> None:
        group = self.added.pop()
        assert group.kept is not None
        group.kept.pop()


def _fit_front_matter(document: Document, max_tokens: int) -> None:
    """Clip the longest free-text values when the front matter alone is too big."""
    allowed = max_tokens // 4
    if estimate_tokens(front_matter_markdown(document)) <= allowed:
        return
    per_value = max(8, allowed // (2 * len(_CLIPPABLE_FRONT_MATTER)))
    for name in _CLIPPABLE_FRONT_MATTER:
        value = document.front_matter.get(name)
        if isinstance(value, str) and line_tokens(value) > per_value:
            document.front_matter[name] = clip(value, per_value)
            document.shortened.append(name)
    if document.shortened:
        document.front_matter["shortened"] = list(document.shortened)


def _first_entries(document: Document) -> int:
    """What the compact first entry of every section costs."""
    return sum(
        _first_entry_cost(section.groups[0])
        for section in document.sections
        if section.groups and section.groups[0].items
    )


def _leave_out(document: Document, key: str, total: int) -> int:
    dropped = next((s for s in document.sections if s.key == key), None)
    if dropped is None:
        return total
    document.sections.remove(dropped)
    document.left_out.append((dropped, dropped.item_count()))
    return document_tokens(document)


def fit(snapshot: Mapping[str, Any], since: Mapping[str, Any] | None, max_tokens: int) -> Document:
    """The document cut to fit `max_tokens` (see the module docstring)."""
    document = build(snapshot, since)
    document.max_tokens = max_tokens
    if _fits(to_markdown(document), max_tokens):
        return document
    make_compact(document, snapshot, max_tokens)
    _fit_front_matter(document, max_tokens)
    for section in document.sections:
        for group in section.groups:
            group.kept = []
    total = document_tokens(document)
    # Sections go, least valuable first, until the skeleton and a first entry for each
    # section left fit: a few sections with an entry say more than many bare counts.
    for key in reversed(VALUE_ORDER):
        if total + _first_entries(document) <= max_tokens or len(document.sections) <= 1:
            break
        total = _leave_out(document, key, total)
    for key in reversed(VALUE_ORDER):  # the skeleton alone must fit
        if total <= max_tokens:
            break
        total = _leave_out(document, key, total)
    if total > max_tokens:
        document.truncated = True
        return document
    planner = _Planner(document, max_tokens)
    planner.run()
    while document_tokens(document) > max_tokens and planner.added:
        planner.undo()  # the plan is an upper bound; this only guards against a slip
    return document


# --- JSON -----------------------------------------------------------------------------


def _section_json(section: Section) -> dict[str, Any]:
    return {
        "key": section.key,
        "title": str(section.title),
        "intro": [str(line) for line in section.intro],
        "summary": section.summary,
        "items": section.kept_data(),
        "omitted": section.omitted(),
    }


def to_json(document: Document) -> dict[str, Any]:
    return {
        "front_matter": document.front_matter,
        "title": document.plain_title,  # the goal as given, not markdown-escaped
        "sections": [_section_json(s) for s in document.sections],
        "left_out": [
            {"key": s.key, "title": str(s.title), "items": count} for s, count in document.left_out
        ],
        "max_tokens": document.max_tokens,
        "truncated": document.truncated,
        "token_estimate": document_tokens(document),
    }


# --- entry points ---------------------------------------------------------------------


def render_document(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Document:
    if max_tokens is None:
        return build(snapshot, since)
    return fit(snapshot, since, max_tokens)


def render_markdown(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> str:
    """The rehydrate document as markdown: a pure function of the snapshot document(s)."""
    return to_markdown(render_document(snapshot, since, max_tokens))


def render_json(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """The same sections as structured data (the same cuts under a budget), with the
    markdown's token estimate."""
    return to_json(render_document(snapshot, since, max_tokens))


def render_markdown_with_estimate(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> tuple[str, int]:
    """(markdown, its token estimate): what the route sends and its X-Token-Estimate."""
    text = render_markdown(snapshot, since, max_tokens)
    return text, estimate_tokens(text)
