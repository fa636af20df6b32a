"""The sections of what people wrote: Decisions & Constraints, Tasks (and TODO markers),
Notes (and NOTE/HACK markers), Open Questions (question notes, QUESTION/FIXME markers).
Every value reaches the markdown through `markup`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from common.context.render import markup as m
from common.context.render import rules
from common.context.render.parts import (
    Group,
    Item,
    Section,
    free_text,
    marker_item,
    note_item,
    text_item,
)

QUESTION_MARKERS = frozenset({"QUESTION", "FIXME"})


def decisions_section(snapshot: Mapping[str, Any]) -> Section:
    section = Section("decisions_constraints", m.literal("Decisions & Constraints"))
    for group, heading in (("decision", "### Decisions"), ("constraint", "### Constraints")):
        entries = snapshot.get(f"{group}s") or []
        items = [text_item(m.literal("- "), str(t), {"group": group}) for t in entries]
        if items:
            section.groups.append(Group(m.literal(heading), items, group, group))
    return section


def _marker_place(markers: list[Mapping[str, Any]]) -> str:
    """ "in code", "in docs", or nothing when the markers come from both."""
    docs = sum(
        1 for mk in markers if rules.categorize(str(mk.get("path", ""))) == rules.DOCUMENTATION
    )
    if docs == 0:
        return " in code"
    return " in docs" if docs == len(markers) else ""


_TASK_ORDER = {"in_progress": 0, "todo": 1, "done": 2}


def tasks_section(snapshot: Mapping[str, Any], todo_markers: list[Mapping[str, Any]]) -> Section:
    tasks = snapshot.get("tasks") or []
    section = Section("tasks", m.literal("Tasks"))
    if tasks:
        done = sum(1 for t in tasks if t.get("status") == "done")
        percent = round(100 * done / len(tasks))
        section.intro.append(m.literal(f"{done} / {len(tasks)} done ({percent}%)."))
        section.summary = {"done": done, "total": len(tasks), "percent": percent}
        boxes = {"done": "[x]", "in_progress": "[~]", "todo": "[ ]"}
        # Open work first: in progress, then to do, then done (a stable bucket pass).
        buckets: list[list[Item]] = [[], [], []]
        for task in tasks:
            status = str(task.get("status", "todo"))
            suffix = m.literal(" (in progress)" if status == "in_progress" else "")
            data = {"group": "task", "title": task.get("title"), "status": status}
            prefix = m.literal(f"- {boxes.get(status, '[ ]')} ")
            full, short = free_text(prefix, task.get("title"), suffix)
            buckets[_TASK_ORDER.get(status, 1)].append(Item(full, data, short))
        section.groups.append(Group(None, [i for b in buckets for i in b], "task", "task"))
    if todo_markers:
        heading = f"### TODO markers{_marker_place(todo_markers)} ({len(todo_markers)})"
        items = [marker_item(mk, "todo_marker") for mk in todo_markers]
        section.groups.append(Group(m.literal(heading), items, "todo_marker", "TODO marker"))
    return section


NOTE_GROUPS = (
    ("decision", "Decisions", "decision"),
    ("todo", "To do", "to-do"),
    ("note", "Notes", "note"),
)


def _newest_first(notes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # Frozen notes are stored oldest first (ids sort by time): reversing is enough.
    return list(notes)[::-1]


def notes_section(snapshot: Mapping[str, Any], code_notes: list[Mapping[str, Any]]) -> Section:
    """Notes grouped by kind, newest first; question notes live in Open Questions."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind, _, _ in NOTE_GROUPS}
    for note in snapshot.get("notes") or []:
        kind = str(note.get("kind", "note"))
        if kind in by_kind:
            by_kind[kind].append(note)
    section = Section("notes", m.literal("Notes"))
    for kind, heading, noun in NOTE_GROUPS:
        if by_kind[kind]:
            items = [note_item(n, kind) for n in _newest_first(by_kind[kind])]
            title = m.literal(f"### {heading} ({len(items)})")
            section.groups.append(Group(title, items, kind, noun))
    if code_notes:
        where = _marker_place(code_notes)
        heading = m.literal(f"### NOTE and HACK markers{where} ({len(code_notes)})")
        items = [marker_item(mk, "code_marker") for mk in code_notes]
        section.groups.append(Group(heading, items, "code_marker", "NOTE or HACK marker"))
    return section


def questions_section(
    snapshot: Mapping[str, Any], question_markers: list[Mapping[str, Any]]
) -> Section:
    """Questions people asked (notes, newest first), then QUESTION/FIXME markers."""
    section = Section("open_questions", m.literal("Open Questions"))
    asked = [n for n in snapshot.get("notes") or [] if n.get("kind") == "question"]
    items = [note_item(n, "note") for n in _newest_first(asked)]
    items.extend(marker_item(mk, "marker") for mk in question_markers)
    section.groups = [Group(None, items, "question", "question")] if items else []
    return section


def split_markers(
    markers: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(open questions, TODOs, NOTE/HACK): QUESTION and FIXME markers, and any marker whose
    text ends with "?", are open questions."""
    questions, todos, code_notes = [], [], []
    for marker in markers:
        kind = str(marker.get("kind", ""))
        if kind in QUESTION_MARKERS or str(marker.get("text", "")).rstrip().endswith("?"):
            questions.append(marker)
        elif kind == "TODO":
            todos.append(marker)
        else:
            code_notes.append(marker)
    return questions, todos, code_notes
