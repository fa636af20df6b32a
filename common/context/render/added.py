"""Two sections a snapshot's own lists do not make: the Project (what the repository is,
from `dockhand snapshot`) and the notes added to the thread after the snapshot.

Both are values like any other: every one reaches the markdown through `markup` (the
README paragraph is inline text, so its headings, HTML, fences and front-matter lines
cannot open a block of their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.context.render import markup as m
from common.context.render.parts import (
    Group,
    Item,
    Section,
    clip,
    counted,
    note_item,
)

SUMMARY_SHORT_TOKENS = 48  # the README paragraph's compact form
LAYOUT_SHOWN = 12
LANGUAGES_SHOWN = 6


def project_section(snapshot: Mapping[str, Any]) -> Section:
    """What the repository is, its layout, languages and test command (all optional)."""
    section = Section("project", m.literal("Project"))
    project = snapshot.get("project") or {}
    if not isinstance(project, Mapping):
        return section
    items: list[Item] = []
    summary = " ".join(m.split_lines(str(project.get("summary") or ""))).strip()
    if summary:
        short = m.inline(clip(summary, SUMMARY_SHORT_TOKENS))
        items.append(Item(m.inline(summary), {"field": "summary", "text": summary}, lambda: short))
    command = str(project.get("test_command") or "").strip()
    if command:
        text = m.fmt("**Test command:** {}", m.code(command))
        items.append(Item(text, {"field": "test_command", "text": command}))
    languages = [lang for lang in project.get("languages") or [] if isinstance(lang, Mapping)][
        :LANGUAGES_SHOWN
    ]
    if languages:
        said = m.join(
            ", ",
            (
                m.fmt("{} {}", lang.get("name"), m.literal(str(int(lang.get("files") or 0))))
                for lang in languages
            ),
        )
        items.append(
            Item(
                m.fmt("**Languages** (files): {}", said),
                {"field": "languages", "languages": [dict(lang) for lang in languages]},
            )
        )
    layout = [str(entry) for entry in project.get("layout") or []]
    if layout:
        shown = layout[:LAYOUT_SHOWN]
        text = m.fmt("**Layout:** {}", m.join(", ", (m.code(entry) for entry in shown)))
        if len(layout) > len(shown):
            text = m.fmt(
                "{} ... and {}", text, m.literal(counted(len(layout) - len(shown), "more entry"))
            )
        items.append(
            Item(text, {"field": "layout", "layout": shown, "more": len(layout) - len(shown)})
        )
    section.groups = [Group(None, items, "project", "project detail")] if items else []
    return section


NEWER_GROUPS = (
    ("decision", "Decisions", "decision"),
    ("question", "Questions", "question"),
    ("todo", "To do", "to-do"),
    ("note", "Notes", "note"),
)


def newer_notes_section(snapshot: Mapping[str, Any]) -> Section:
    """Notes written after this snapshot (the thread's newest): newest first, by kind,
    plainly marked as newer than the snapshot."""
    section = Section("newer_notes", m.literal("Newer than this snapshot"))
    newer = list(snapshot.get("newer_notes") or [])
    if not newer:
        return section
    more = bool(snapshot.get("newer_notes_more"))
    intro = m.fmt(
        "Added to the thread after this snapshot was taken ({}); they are not in the snapshot.",
        str(snapshot.get("created_at") or "an unknown time"),
    )
    section.intro.append(intro)
    if more:
        section.intro.append(m.literal(f"Only the newest {len(newer)} are shown."))
    section.summary = {"count": len(newer), "more": more}
    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind, _, _ in NEWER_GROUPS}
    for note in reversed(newer):  # stored oldest first: newest first here
        by_kind.get(str(note.get("kind", "note")), by_kind["note"]).append(note)
    for kind, heading, noun in NEWER_GROUPS:
        if by_kind[kind]:
            items = [note_item(n, f"newer_{kind}") for n in by_kind[kind]]
            title = m.literal(f"### {heading} ({len(items)})")
            section.groups.append(Group(title, items, f"newer_{kind}", noun))
    return section
