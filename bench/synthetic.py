"""A synthetic snapshot document of any size, for benchmarks and tests of the renderer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_DIRS = ("common", "handlers", "infra", "docs", "tests/unit", "web/src", "config", "scripts")
_EXTS = (".py", ".tf", ".md", ".py", ".tsx", ".json", ".sh", ".yaml")
_PREFIXES = ("feat", "fix", "docs", "refactor", "test", "chore")
_WORDS = ("snapshot", "render", "notes", "gateway", "cursor", "tenant", "café", "数据", "🚀")
_STATUSES = ("modified", "added", "deleted", "renamed")
_KINDS = ("TODO", "FIXME", "NOTE", "QUESTION", "HACK")
_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@dataclass
class _Words:
    """Phrases drawn from one seeded generator: the same seed, the same document (the
    sections draw in document order)."""

    rng: random.Random

    def phrase(self, n: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(n))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _path(i: int) -> str:
    return f"{_DIRS[i % len(_DIRS)]}/module_{i}{_EXTS[(i // 3) % len(_EXTS)]}"


def synthetic_snapshot(
    *,
    changes: int = 10_000,
    commits: int = 1_000,
    markers: int = 2_000,
    notes: int = 1_000,
    tasks: int = 50,
    seed: int = 0,
    snapshot_id: str = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
    thread_id: str = "bench-thread",
) -> dict[str, Any]:
    """A stored-snapshot document shaped like `common.context.snapshots.build_document` output."""
    words = _Words(random.Random(seed))
    return {
        "schema_version": 1,
        "snapshot_id": snapshot_id,
        "thread": {
            "id": thread_id,
            "goal": "Ship the context API ✅",
            "persona": "senior-backend-dev",
            "focus": "rehydrate rendering",
            "output": "a pull request",
            "constraints": "no scans",
        },
        "repo": {"name": "dockhand", "branch": "main", "head": "0123456789abcdef"},
        "commits": _commits(words, commits),
        "changes": _changes(changes),
        "markers": _markers(words, markers),
        "decisions": [f"Decision {i}: {words.phrase(6)}" for i in range(20)],
        "constraints": [f"Constraint {i}: {words.phrase(6)}" for i in range(10)],
        "tasks": [
            {
                "title": f"Task {i} {words.phrase(3)}",
                "status": ("done", "in_progress", "todo")[i % 3],
            }
            for i in range(tasks)
        ],
        "notes": _notes(words, notes, thread_id),
        "captured_at": _iso(_NOW),
        "created_at": _iso(_NOW),
    }


def _changes(count: int) -> list[dict[str, Any]]:
    change_list: list[dict[str, Any]] = []
    for i in range(count):
        status = _STATUSES[i % 4]
        change: dict[str, Any] = {"path": _path(i), "status": status}
        if status == "renamed":
            change["old_path"] = f"old/{_path(i)}"
        change_list.append(change)
    return change_list


def _commits(words: _Words, count: int) -> list[dict[str, Any]]:
    return [
        {
            "sha": f"{i:040x}",
            "message": f"{_PREFIXES[i % len(_PREFIXES)]}: {words.phrase(4)}\n\nbody text",
            "author": f"dev{i % 7}",
            "timestamp": _iso(_NOW - timedelta(minutes=37 * i)),
        }
        for i in range(count)
    ]


def _markers(words: _Words, count: int) -> list[dict[str, Any]]:
    return [
        {
            "path": _path(i),
            "line": i + 1,
            "kind": _KINDS[i % len(_KINDS)],
            "text": words.phrase(5),
            "context": f"def function_{i}():",
        }
        for i in range(count)
    ]


def _notes(words: _Words, count: int, thread_id: str) -> list[dict[str, Any]]:
    return [
        {
            "note_id": f"01HNOTE{i:019d}",
            "thread_id": thread_id,
            "kind": ("note", "decision", "question", "todo")[i % 4],
            "text": words.phrase(12),
            "source": {"path": _path(i), "line": i + 1} if i % 2 else None,
            "tags": ["bench"],
            "created_at": _iso(_NOW - timedelta(minutes=i)),
        }
        for i in range(count)
    ]
