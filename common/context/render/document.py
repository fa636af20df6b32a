"""The rehydrate document as data: front matter plus sections of item groups.

Each section has intro lines (kept while the section is) and groups of items (a group
has an optional `###` heading and items of one noun); a token budget keeps a prefix of
each group, the most recent / most relevant entries first.  The markdown and the JSON
renderings are two views of the same sections, so a cut shows in both.

Every value reaches the markdown through `markup` (one escaping rule, see there): the
text fields here are `Md`, which only `markup` makes.  Everything is linear in the
size of the snapshot: one pass per list, no sorting of user data, no nested scans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from common.context.render import added, rules, written
from common.context.render import markup as m
from common.context.render.markup import Md
from common.context.render.parts import (
    SHORT_ITEM_TOKENS,
    Document,
    Facts,
    Group,
    Item,
    Section,
    change_label,
    clip,
    commit_item,
    constant,
    counted,
    free_text,
    meaningful_context,
    more_line,
    more_line_of,
    parse_time,
    plural,
    subject,
)
from common.context.render.since import since_section
from common.context.render.tokens import line_tokens

# Re-exported: the budget (output.py) and tests name them from here.
__all__ = [
    "VALUE_ORDER",
    "WRITTEN",
    "Document",
    "Group",
    "Item",
    "Section",
    "build",
    "clip",
    "counted",
    "make_compact",
    "meaningful_context",
    "more_line",
    "more_line_of",
    "plural",
]

# Sections in document order.
SECTION_ORDER = (
    "operator_instructions",
    "newer_notes",
    "since_last_snapshot",
    "project",
    "recent_progress",
    "current_changes",
    "development_velocity",
    "decisions_constraints",
    "tasks",
    "notes",
    "open_questions",
)
# What people wrote: kept before anything generated when the budget is short.
WRITTEN = frozenset({"newer_notes", "open_questions", "decisions_constraints", "tasks", "notes"})
# Sections by value under a budget, most valuable first: what people wrote, then what
# is generated from the snapshot (what changed before what the repository is), generic
# persona guidance last.
VALUE_ORDER = (
    "newer_notes",
    "decisions_constraints",
    "open_questions",
    "tasks",
    "notes",
    "since_last_snapshot",
    "current_changes",
    "project",
    "recent_progress",
    "development_velocity",
    "operator_instructions",
)
PATHS_PER_CATEGORY = 3
FOCUS_AREAS = 5
_CONVENTIONAL = re.compile(r"^([a-z]+)(?:\([^)]*\))?!?:\s")
_WORD = re.compile(r"[^\W\d_]{3,}")

# --- sections --------------------------------------------------------------------------


def snapshot_facts(
    snapshot: Mapping[str, Any], questions: int, markers: Iterable[Mapping[str, Any]]
) -> Facts:
    kinds = Counter(str(marker.get("kind", "")) for marker in markers)
    categories = Counter(
        rules.categorize(str(change.get("path", ""))) for change in snapshot.get("changes") or []
    )
    tasks = snapshot.get("tasks") or []
    counts = {
        "changes": len(snapshot.get("changes") or []),
        "commits": len(snapshot.get("commits") or []),
        "questions": questions,
        "fixmes": kinds["FIXME"],
        "todos": kinds["TODO"],
        "hacks": kinds["HACK"],
        "open_tasks": sum(1 for t in tasks if t.get("status") != "done"),
        "decisions": len(snapshot.get("decisions") or [])
        + sum(1 for n in snapshot.get("notes") or [] if n.get("kind") == "decision"),
        **{f"changes:{name}": count for name, count in categories.items()},
    }
    return Facts(counts)


NO_GOAL_TASK = "No goal is recorded for this thread: ask what it should achieve"


def _persona_lines(
    entries: Iterable[rules.Line], facts: Facts, values: dict[str, str]
) -> list[tuple[str, str]]:
    """(full, short) of the template lines whose condition holds, placeholders filled in
    (raw text).  The goal is never clipped: a line quoting it refers to the title in its
    short form; without a goal the line asks for one instead."""
    lines = []
    for entry in entries:
        count = sum(facts.get(name) for name in entry.when) if entry.when else 1
        if count <= 0:
            continue
        text = entry.text.replace("{count}", counted(count, entry.noun) if entry.noun else "")
        if "{goal}" in text and not values.get("goal"):
            lines.append((NO_GOAL_TASK, NO_GOAL_TASK))
            continue
        short = text.replace(": {goal}", " (the goal above)").replace("{goal}", "the goal above")
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
            short = short.replace("{" + name + "}", value)
        lines.append((text, short))
    return lines


def operator_section(snapshot: Mapping[str, Any], facts: Facts, compact: bool) -> Section:
    thread = snapshot.get("thread") or {}
    repo = snapshot.get("repo") or {}
    template = rules.persona(thread.get("persona"))
    goal = str(thread.get("goal") or "")
    focus = str(thread.get("focus") or template.focus)
    section = Section("operator_instructions", m.literal("Operator Instructions"))
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

    def value(text: str) -> str:
        return clip(text, SHORT_ITEM_TOKENS) if compact else text

    section.intro.append(m.fmt("**Role:** {}", template.role))
    section.intro.append(m.fmt("**Primary focus:** {}", value(focus)))
    if repo.get("name") or repo.get("branch"):
        where = m.inline(value(str(repo.get("name") or "(unnamed repository)")))
        if repo.get("branch"):
            where = m.fmt("{} on branch {}", where, m.code(value(str(repo["branch"]))))
        if repo.get("head"):
            where = m.fmt("{} at {}", where, m.code(str(repo["head"])[:12]))
        section.intro.append(m.fmt("**Repository:** {}", where))
    if thread.get("output"):
        section.intro.append(m.fmt("**Expected output:** {}", value(str(thread["output"]))))
    values = {"goal": " ".join(m.split_lines(goal)), "focus": " ".join(m.split_lines(focus))}
    tasks = _persona_lines(template.tasks, facts, values)
    section.groups.append(
        Group(
            m.literal("### Tasks for this session"),
            [
                _persona_item(m.literal(f"{number}. "), line, "session_task")
                for number, line in enumerate(tasks, start=1)
            ],
            "session_task",
            "session task",
        )
    )
    for group, heading, noun, entries in (
        ("do", "### Do", "recommendation", template.do),
        ("dont", "### Don't", "warning", template.dont),
    ):
        lines = _persona_lines(entries, facts, values)
        items = [_persona_item(m.literal("- "), line, group) for line in lines]
        section.groups.append(Group(m.literal(heading), items, group, noun))
    section.groups = [g for g in section.groups if g.items]
    return section


def _persona_item(prefix: Md, line: tuple[str, str], group: str) -> Item:
    full, short = line
    return Item(
        free_text(prefix, full)[0], {"group": group, "text": full}, free_text(prefix, short)[1]
    )


# The subjects git itself writes for merges (a client may also flag them: "merge": true).
_MERGE_SUBJECT = re.compile(
    r"^Merge (?:branch|branches|pull request|remote-tracking branch|tag|commit) |^Merge ['\"]"
)


def is_merge(commit: Mapping[str, Any]) -> bool:
    return bool(commit.get("merge")) or bool(_MERGE_SUBJECT.match(subject(commit.get("message"))))


def split_merges(
    commits: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], int]:
    """(the commits that are not merges, how many merges there were)."""
    kept, merges = [], 0
    for commit in commits:
        if is_merge(commit):
            merges += 1
        else:
            kept.append(commit)
    return kept, merges


def progress_section(snapshot: Mapping[str, Any], now: datetime | None) -> Section:
    """Commits newest first; merges counted, not listed; an author shared by every listed
    commit named once."""
    section = Section("recent_progress", m.literal("Recent Progress"))
    commits, merges = split_merges(snapshot.get("commits") or [])
    authors = {str(c.get("author") or "unknown") for c in commits}
    shared = next(iter(authors)) if len(authors) == 1 and len(commits) > 1 else None
    if shared is not None:
        section.intro.append(m.fmt("All by {}.", shared))
    if merges:
        section.intro.append(m.literal(f"{counted(merges, 'merge commit')} counted, not listed."))
    section.summary = {"merges": merges, "author": shared}
    items = [commit_item(c, now, "commit", with_author=shared is None) for c in commits]
    section.groups = [Group(None, items, "commit", "commit")] if items else []
    return section


def changes_section(snapshot: Mapping[str, Any]) -> Section:
    order, _ = rules.category_rules()
    grouped: dict[str, list[Mapping[str, Any]]] = {name: [] for name in order}
    changes = snapshot.get("changes") or []
    for change in changes:
        grouped.setdefault(rules.categorize(str(change.get("path", ""))), []).append(change)
    present = [(name, items) for name, items in grouped.items() if items]
    section = Section("current_changes", m.literal("Current Changes"))
    if not changes:
        return section
    section.intro.append(
        m.literal(f"{counted(len(changes), 'file')} across {counted(len(present), 'category')}.")
    )
    section.summary = {"files": len(changes), "categories": len(present)}
    items = []
    for name, members in present:
        shown = members[:PATHS_PER_CATEGORY]
        more = len(members) - len(shown)
        labels = m.join(", ", (change_label(c) for c in shown))
        text = m.fmt("- **{}** ({}): {}", name, m.literal(str(len(members))), labels)
        short = m.fmt("- **{}** ({})", name, m.literal(counted(len(members), "file")))
        if more:
            text = m.fmt("{} ... and {}", text, m.literal(counted(more, "more file")))
        data = {
            "category": name,
            "count": len(members),
            "paths": [
                {k: c.get(k) for k in ("path", "status", "old_path") if c.get(k) is not None}
                for c in shown
            ],
            "more": more,
        }
        items.append(Item(text, data, constant(short)))
    section.groups = [Group(None, items, "category", "category")]
    return section


def focus_areas(
    messages: Iterable[str], stopwords: frozenset[str]
) -> tuple[Counter[str], Counter[str]]:
    """(conventional-commit types, frequent words) over commit subjects."""
    kinds: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for message in messages:
        line = message.lower()
        found = _CONVENTIONAL.match(line)
        if found:
            kinds[found.group(1)] += 1
            line = line[found.end() :]
        words.update(w for w in _WORD.findall(line) if w not in stopwords)
    return kinds, words


def velocity_section(snapshot: Mapping[str, Any]) -> Section:
    """The pace and the focus areas of the listed commits, merges left out.  Shown only
    when it says something: at least two focus areas each seen in two commits or more (the
    commit count alone is usually the collector's cap, and one repeated word is noise)."""
    commits, _ = split_merges(snapshot.get("commits") or [])
    section = Section("development_velocity", m.literal("Development Velocity"))
    stopwords = rules.stopwords()
    kinds, words = focus_areas((subject(c.get("message")) for c in commits), stopwords)
    items = [
        Item(
            m.fmt("- **{}**: {}", kind, m.literal(counted(count, "commit"))),
            {"type": "prefix", "name": kind, "count": count},
        )
        for kind, count in kinds.most_common(FOCUS_AREAS)
        if count >= 2
    ]
    items.extend(
        Item(
            m.fmt("- {}: {}", word, m.literal(counted(count, "mention"))),
            {"type": "word", "name": word, "count": count},
        )
        for word, count in words.most_common(FOCUS_AREAS)
        if word not in kinds and count >= 2
    )
    if len(items) < 2:
        return section
    authors = {str(c.get("author") or "") for c in commits}
    times = [t for t in (parse_time(c.get("timestamp")) for c in commits) if t and t.tzinfo]
    span_days = (max(times) - min(times)).total_seconds() / 86_400 if len(times) > 1 else 0.0
    if span_days >= 1:
        days = counted(round(span_days), "day")
        pace = f"{len(commits) / span_days:.1f} commits a day over {days}"
        section.intro.append(m.literal(f"{pace}, {counted(len(authors), 'author')}."))
    section.summary = {
        "commit_count": len(commits),
        "authors": len(authors),
        "span_days": round(span_days, 2),
    }
    section.groups = [Group(None, items, "focus_area", "focus area")]
    return section


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


def plain_title(snapshot: Mapping[str, Any]) -> str:
    """The title as text: the goal whole (never clipped), or one line saying there is none."""
    thread = snapshot.get("thread") or {}
    goal = " ".join(m.split_lines(str(thread.get("goal") or ""))).strip()
    if goal:
        return f"Rehydrate: {goal}"
    return f"Rehydrate: no goal recorded for thread {thread.get('id') or '(unnamed)'}"


# Under a budget the title repeats the goal only if it is short for that budget (an
# eighth of it, and any goal of up to 16 tokens); else the title points at the front
# matter, where the goal always is, whole.
GOAL_IN_TITLE_TOKENS = 16
GOAL_ABOVE = "# Rehydrate: see the goal in the front matter"


def _title(snapshot: Mapping[str, Any]) -> Md:
    thread = snapshot.get("thread") or {}
    goal = str(thread.get("goal") or "")
    if goal.strip():
        return m.fmt("# Rehydrate: {}", goal)
    return m.fmt("# Rehydrate: no goal recorded for thread {}", m.code(thread.get("id") or ""))


def make_compact(document: Document, snapshot: Mapping[str, Any], max_tokens: int) -> None:
    """Clip the long values of the operator intro (for tight budgets); never the goal.  A
    goal too long to say twice in the budget stays whole in the front matter and the
    title points there."""
    goal = str((snapshot.get("thread") or {}).get("goal") or "")
    if line_tokens(goal) > max(GOAL_IN_TITLE_TOKENS, max_tokens // 8):
        document.title = m.literal(GOAL_ABOVE)
    for index, section in enumerate(document.sections):
        if section.key == "operator_instructions" and document.facts is not None:
            document.sections[index] = operator_section(snapshot, document.facts, compact=True)


def build(snapshot: Mapping[str, Any], since: Mapping[str, Any] | None = None) -> Document:
    """Every section of the document, before any budget cut; empty ones left out."""
    now = parse_time(snapshot.get("captured_at") or snapshot.get("created_at"))
    markers = snapshot.get("markers") or []
    questions, todos, code_notes = written.split_markers(markers)
    asked = sum(1 for n in snapshot.get("notes") or [] if n.get("kind") == "question")
    facts = snapshot_facts(snapshot, len(questions) + asked, markers)
    built = {
        "operator_instructions": operator_section(snapshot, facts, compact=False),
        "recent_progress": progress_section(snapshot, now),
        "current_changes": changes_section(snapshot),
        "development_velocity": velocity_section(snapshot),
        "decisions_constraints": written.decisions_section(snapshot),
        "tasks": written.tasks_section(snapshot, todos),
        "notes": written.notes_section(snapshot, code_notes),
        "open_questions": written.questions_section(snapshot, questions),
        "project": added.project_section(snapshot),
        "newer_notes": added.newer_notes_section(snapshot),
    }
    if since is not None:
        built["since_last_snapshot"] = since_section(snapshot, since, now)
    sections = [
        built[key]
        for key in SECTION_ORDER
        if key in built and (built[key].groups or built[key].intro)
    ]
    title = _title(snapshot)
    return Document(
        front_matter(snapshot), title, sections, facts=facts, plain_title=plain_title(snapshot)
    )
