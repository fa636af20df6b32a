"""The rehydrate document as data: front matter plus sections of items.

Each section has intro lines (always kept while the section is) and items (cut from
the end when a token budget asks).  The markdown and the JSON renderings are two views
of the same sections, so a cut shows in both.  Everything here is linear in the size
of the snapshot: one pass per list, no sorting of user data, no nested scans.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.context.render import rules

# Sections in document order; CUT_ORDER says which give way first under a budget.
SECTION_ORDER = (
    "operator_instructions",
    "since_last_snapshot",
    "recent_progress",
    "current_changes",
    "development_velocity",
    "decisions_constraints",
    "tasks",
    "notes",
    "open_questions",
)
CUT_ORDER = (
    "development_velocity",
    "notes",
    "recent_progress",
    "current_changes",
    "since_last_snapshot",
    "open_questions",
    "tasks",
    "decisions_constraints",
    "operator_instructions",
)
PATHS_PER_CATEGORY = 3
FOCUS_AREAS = 5
QUESTION_MARKERS = frozenset({"QUESTION", "FIXME"})
_CONVENTIONAL = re.compile(r"^([a-z]+)(?:\([^)]*\))?!?:\s")
_WORD = re.compile(r"[^\W\d_]{4,}")
# Words too common in commit subjects to say anything about focus.
# fmt: off
_STOPWORDS = frozenset((
    "this", "that", "with", "from", "into", "when", "then", "than", "have", "been", "were",
    "will", "would", "should", "could", "also", "only", "just", "more", "some", "what",
    "which", "there", "their", "them", "they", "your", "after", "before", "over", "under",
    "about", "make", "makes", "made", "uses", "used", "using", "adds", "added", "remove",
    "removed", "update", "updated", "updates", "merge", "branch", "pull", "request", "main",
    "master",
))
# fmt: on


@dataclass
class Item:
    """One entry of a section: its markdown text and its structured form.

    `data is None` marks a group heading: it is never counted as content, and a
    heading left without items after a cut is dropped with them.
    """

    text: str
    data: dict[str, Any] | None = None


@dataclass
class Section:
    key: str
    title: str
    noun: str  # what an item is, for "... and 12 more <noun>"
    intro: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    kept: int | None = None  # items kept after a cut; None = all

    def kept_items(self) -> list[Item]:
        items = self.items if self.kept is None else self.items[: self.kept]
        while items and items[-1].data is None and self.kept is not None:
            items = items[:-1]  # a heading whose items were all cut goes with them
        return items

    def omitted(self) -> int:
        kept = self.kept_items()
        return sum(1 for i in self.items if i.data is not None) - sum(
            1 for i in kept if i.data is not None
        )


@dataclass
class Document:
    front_matter: dict[str, Any]
    title: str
    sections: list[Section]
    left_out: list[tuple[Section, int]] = field(default_factory=list)
    max_tokens: int | None = None
    truncated: bool = False


# --- helpers ---------------------------------------------------------------------------


def counted(count: int, noun: str) -> str:
    """ "1 commit", "2 commits": English plurals for the nouns the document counts."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def relative_age(then: Any, now: datetime | None) -> str:
    """ "3 hours ago", relative to the snapshot time (not the reader's clock)."""
    moment = _parse_time(then)
    if moment is None or now is None or moment.tzinfo is None:
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
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def subject(message: Any) -> str:
    text = str(message or "").strip()
    return text.split("\n", 1)[0].strip()


def _code(text: Any) -> str:
    value = str(text)
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}"


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def _location(path: Any, line: Any) -> str:
    return f"{path}:{line}" if line else str(path)


# --- sections --------------------------------------------------------------------------


def operator_section(snapshot: Mapping[str, Any]) -> Section:
    thread = snapshot.get("thread") or {}
    repo = snapshot.get("repo") or {}
    template = rules.persona(thread.get("persona"))
    goal = thread.get("goal") or thread.get("id") or "the thread's goal"
    focus = thread.get("focus") or template.focus
    section = Section("operator_instructions", "Operator Instructions", "guidelines")
    section.summary = {
        "persona": thread.get("persona") or rules.DEFAULT_PERSONA,
        "template": template.name,
        "role": template.role,
        "primary_focus": focus,
        "repository": repo.get("name") or None,
        "branch": repo.get("branch") or None,
        "head": repo.get("head") or None,
        "output": thread.get("output") or None,
    }
    section.intro.append(f"**Role:** {template.role}")
    section.intro.append(f"**Primary focus:** {_one_line(focus)}")
    if repo.get("name") or repo.get("branch"):
        where = str(repo.get("name") or "(unnamed repository)")
        if repo.get("branch"):
            where += f" on branch {_code(repo['branch'])}"
        if repo.get("head"):
            where += f" at {_code(str(repo['head'])[:12])}"
        section.intro.append(f"**Repository:** {where}")
    if thread.get("output"):
        section.intro.append(f"**Expected output:** {_one_line(thread['output'])}")
    groups = (("do", "### Do", template.do), ("dont", "### Don't", template.dont))
    for group, heading, lines in groups:
        section.items.append(Item(heading))
        section.items.extend(Item(f"- {line}", {"group": group, "text": line}) for line in lines)
    section.items.append(Item("### Tasks for this session"))
    for number, task in enumerate(template.tasks, start=1):
        text = task.replace("{goal}", _one_line(goal)).replace("{focus}", _one_line(focus))
        section.items.append(Item(f"{number}. {text}", {"group": "session_task", "text": text}))
    return section


def _commit_item(commit: Mapping[str, Any], now: datetime | None) -> Item:
    sha = str(commit.get("sha", ""))[:7]
    title = subject(commit.get("message"))
    author = str(commit.get("author") or "unknown")
    age = relative_age(commit.get("timestamp"), now)
    data = {
        "sha": commit.get("sha"),
        "subject": title,
        "author": commit.get("author"),
        "timestamp": commit.get("timestamp"),
        "age": age,
    }
    return Item(f"- {_code(sha)} {title} — {author}, {age}", data)


def progress_section(snapshot: Mapping[str, Any], now: datetime | None) -> Section:
    section = Section("recent_progress", "Recent Progress", "commits")
    section.items = [_commit_item(c, now) for c in snapshot.get("commits") or []]
    return section


def _change_label(change: Mapping[str, Any]) -> str:
    status = str(change.get("status", "modified"))
    if status == "renamed" and change.get("old_path"):
        return f"{_code(change.get('path'))} (renamed from {_code(change['old_path'])})"
    return f"{_code(change.get('path'))} ({status})"


def changes_section(snapshot: Mapping[str, Any]) -> Section:
    order, _ = rules.category_rules()
    grouped: dict[str, list[Mapping[str, Any]]] = {name: [] for name in order}
    changes = snapshot.get("changes") or []
    for change in changes:
        grouped.setdefault(rules.categorize(str(change.get("path", ""))), []).append(change)
    present = [(name, items) for name, items in grouped.items() if items]
    section = Section("current_changes", "Current Changes", "categories")
    plural = "category" if len(present) == 1 else "categories"
    files = "file" if len(changes) == 1 else "files"
    section.intro.append(f"{len(changes)} {files} across {len(present)} {plural}.")
    section.summary = {"files": len(changes), "categories": len(present)}
    for name, members in present:
        shown = members[:PATHS_PER_CATEGORY]
        more = len(members) - len(shown)
        text = f"- **{name}** ({len(members)}): " + ", ".join(_change_label(c) for c in shown)
        if more:
            text += f" ... and {more} more"
        data = {
            "category": name,
            "count": len(members),
            "paths": [
                {k: c.get(k) for k in ("path", "status", "old_path") if c.get(k) is not None}
                for c in shown
            ],
            "more": more,
        }
        section.items.append(Item(text, data))
    return section


def focus_areas(messages: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """(conventional-commit types, frequent words) over commit subjects."""
    kinds: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for message in messages:
        line = message.lower()
        found = _CONVENTIONAL.match(line)
        if found:
            kinds[found.group(1)] += 1
            line = line[found.end() :]
        words.update(w for w in _WORD.findall(line) if w not in _STOPWORDS)
    return kinds, words


def velocity_section(snapshot: Mapping[str, Any]) -> Section:
    commits = snapshot.get("commits") or []
    section = Section("development_velocity", "Development Velocity", "focus areas")
    if not commits:
        return section
    authors = {str(c.get("author") or "") for c in commits}
    times = [t for t in (_parse_time(c.get("timestamp")) for c in commits) if t and t.tzinfo]
    span_days = (max(times) - min(times)).total_seconds() / 86_400 if len(times) > 1 else 0.0
    line = f"**{counted(len(commits), 'commit')}** by {counted(len(authors), 'author')}"
    if span_days >= 1:
        line += f" over {span_days:.0f} days ({len(commits) / span_days:.1f} a day)"
    section.intro.append(line + ".")
    section.summary = {
        "commit_count": len(commits),
        "authors": len(authors),
        "span_days": round(span_days, 2),
    }
    kinds, words = focus_areas(subject(c.get("message")) for c in commits)
    for kind, count in kinds.most_common(FOCUS_AREAS):
        section.items.append(
            Item(
                f"- **{kind}**: {counted(count, 'commit')}",
                {"type": "prefix", "name": kind, "count": count},
            )
        )
    for word, count in words.most_common(FOCUS_AREAS):
        section.items.append(
            Item(
                f"- {word}: {counted(count, 'mention')}",
                {"type": "word", "name": word, "count": count},
            )
        )
    return section


def decisions_section(snapshot: Mapping[str, Any]) -> Section:
    section = Section("decisions_constraints", "Decisions & Constraints", "entries")
    for group, heading in (("decision", "### Decisions"), ("constraint", "### Constraints")):
        entries = snapshot.get(f"{group}s") or []
        if entries:
            section.items.append(Item(heading))
            section.items.extend(
                Item(f"- {_one_line(text)}", {"group": group, "text": text}) for text in entries
            )
    return section


def tasks_section(snapshot: Mapping[str, Any], todo_markers: list[Mapping[str, Any]]) -> Section:
    tasks = snapshot.get("tasks") or []
    noun = (
        "tasks and TODO markers" if todo_markers and tasks else "tasks" if tasks else "TODO markers"
    )
    section = Section("tasks", "Tasks", noun)
    if tasks:
        done = sum(1 for t in tasks if t.get("status") == "done")
        percent = round(100 * done / len(tasks))
        section.intro.append(f"{done} / {len(tasks)} done ({percent}%).")
        section.summary = {"done": done, "total": len(tasks), "percent": percent}
        boxes = {"done": "[x]", "in_progress": "[~]", "todo": "[ ]"}
        for task in tasks:
            status = str(task.get("status", "todo"))
            suffix = " (in progress)" if status == "in_progress" else ""
            data = {"group": "task", "title": task.get("title"), "status": status}
            section.items.append(
                Item(f"- {boxes.get(status, '[ ]')} {task.get('title')}{suffix}", data)
            )
    if todo_markers:
        section.items.append(Item(f"### TODO markers in code ({len(todo_markers)})"))
        section.items.extend(_marker_item(m, "todo_marker") for m in todo_markers)
    return section


def _marker_item(marker: Mapping[str, Any], group: str) -> Item:
    where = _location(marker.get("path"), marker.get("line"))
    text = f"- {_code(where)} **{marker.get('kind')}** {_one_line(marker.get('text'))}"
    if marker.get("context"):
        text += f"\n  > {_one_line(marker['context'])}"
    data = {
        "group": group,
        **{k: marker.get(k) for k in ("path", "line", "kind", "text", "context")},
    }
    return Item(text, data)


def _note_item(note: Mapping[str, Any], group: str) -> Item:
    text = f"- {_one_line(note.get('text'))}"
    source = note.get("source") or {}
    if source.get("path"):
        text += f" ({_code(_location(source['path'], source.get('line')))})"
    if note.get("tags"):
        text += " " + " ".join(f"#{t}" for t in note["tags"])
    data = {
        "group": group,
        **{k: note.get(k) for k in ("note_id", "kind", "text", "source", "tags", "created_at")},
    }
    return Item(text, data)


NOTE_GROUPS = (("decision", "Decisions"), ("todo", "To do"), ("note", "Notes"))


def notes_section(snapshot: Mapping[str, Any], code_notes: list[Mapping[str, Any]]) -> Section:
    """Notes grouped by kind; question notes live in Open Questions instead."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind, _ in NOTE_GROUPS}
    for note in snapshot.get("notes") or []:
        kind = str(note.get("kind", "note"))
        if kind in by_kind:
            by_kind[kind].append(note)
    section = Section("notes", "Notes", "notes and markers" if code_notes else "notes")
    for kind, heading in NOTE_GROUPS:
        if by_kind[kind]:
            section.items.append(Item(f"### {heading} ({len(by_kind[kind])})"))
            section.items.extend(_note_item(n, kind) for n in by_kind[kind])
    if code_notes:
        section.items.append(Item(f"### NOTE and HACK markers in code ({len(code_notes)})"))
        section.items.extend(_marker_item(m, "code_marker") for m in code_notes)
    return section


def questions_section(
    snapshot: Mapping[str, Any], question_markers: list[Mapping[str, Any]]
) -> Section:
    section = Section("open_questions", "Open Questions", "questions")
    section.items.extend(_marker_item(m, "marker") for m in question_markers)
    section.items.extend(
        _note_item(n, "note") for n in snapshot.get("notes") or [] if n.get("kind") == "question"
    )
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


def _marker_key(marker: Mapping[str, Any]) -> tuple[str, str, str]:
    # Line numbers shift as code moves; path + kind + text identifies a marker.
    return (str(marker.get("path")), str(marker.get("kind")), _one_line(marker.get("text")))


def since_section(
    snapshot: Mapping[str, Any], previous: Mapping[str, Any], now: datetime | None
) -> Section:
    section = Section("since_last_snapshot", "Since last snapshot", "entries")
    section.intro.append(
        f"Compared with snapshot {_code(previous.get('snapshot_id'))} "
        f"of {previous.get('created_at')}."
    )
    seen = {c.get("sha") for c in previous.get("commits") or []}
    new_commits = [c for c in snapshot.get("commits") or [] if c.get("sha") not in seen]
    before = {str(c.get("path")): c.get("status") for c in previous.get("changes") or []}
    changed = [
        c
        for c in snapshot.get("changes") or []
        if before.get(str(c.get("path"))) != c.get("status")
    ]
    old_markers = {_marker_key(m): m for m in previous.get("markers") or []}
    new_markers = {_marker_key(m): m for m in snapshot.get("markers") or []}
    added = [m for key, m in new_markers.items() if key not in old_markers]
    resolved = [m for key, m in old_markers.items() if key not in new_markers]
    section.summary = {
        "previous_snapshot_id": previous.get("snapshot_id"),
        "new_commits": len(new_commits),
        "files_changed": len(changed),
        "markers_added": len(added),
        "markers_resolved": len(resolved),
    }
    parts: list[tuple[str, list[Item]]] = [
        ("New commits", [_with_group(_commit_item(c, now), "new_commit") for c in new_commits]),
        (
            "Files changed since",
            [Item(f"- {_change_label(c)}", {"group": "file", **dict(c)}) for c in changed],
        ),
        ("Markers added", [_marker_item(m, "marker_added") for m in added]),
        ("Markers resolved", [_marker_item(m, "marker_resolved") for m in resolved]),
    ]
    for heading, items in parts:
        if items:
            section.items.append(Item(f"### {heading} ({len(items)})"))
            section.items.extend(items)
    if not section.items:
        section.items.append(Item("- Nothing changed.", {"group": "none"}))
    return section


def _with_group(item: Item, group: str) -> Item:
    if item.data is not None:
        item.data = {"group": group, **item.data}
    return item


def front_matter(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    thread = snapshot.get("thread") or {}
    return {
        "thread_id": thread.get("id"),
        "snapshot_id": snapshot.get("snapshot_id"),
        "created_at": snapshot.get("created_at"),
        "goal": thread.get("goal") or "",
        "persona": thread.get("persona") or rules.DEFAULT_PERSONA,
        "focus": thread.get("focus") or "",
        "output": thread.get("output") or "",
        "constraints": thread.get("constraints") or "",
        "file_count": len(snapshot.get("changes") or []),
        "commit_count": len(snapshot.get("commits") or []),
    }


def build(snapshot: Mapping[str, Any], since: Mapping[str, Any] | None = None) -> Document:
    """Every section of the document, before any budget cut; empty ones left out."""
    now = _parse_time(snapshot.get("captured_at") or snapshot.get("created_at"))
    questions, todos, code_notes = split_markers(snapshot.get("markers") or [])
    built = {
        "operator_instructions": operator_section(snapshot),
        "recent_progress": progress_section(snapshot, now),
        "current_changes": changes_section(snapshot),
        "development_velocity": velocity_section(snapshot),
        "decisions_constraints": decisions_section(snapshot),
        "tasks": tasks_section(snapshot, todos),
        "notes": notes_section(snapshot, code_notes),
        "open_questions": questions_section(snapshot, questions),
    }
    if since is not None:
        built["since_last_snapshot"] = since_section(snapshot, since, now)
    if not snapshot.get("changes"):
        built["current_changes"].intro.clear()
    sections = [
        built[key]
        for key in SECTION_ORDER
        if key in built and (built[key].items or built[key].intro)
    ]
    thread = snapshot.get("thread") or {}
    title = f"Rehydrate: {_one_line(thread.get('goal') or thread.get('id') or 'snapshot')}"
    return Document(front_matter(snapshot), title, sections)


def yaml_scalar(value: Any) -> str:
    """A YAML scalar: numbers as is, strings double-quoted (JSON strings are valid YAML)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)
