"""A synthetic snapshot document of any size, for benchmarks and tests of the renderer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

_DIRS = ("common", "handlers", "infra", "docs", "tests/unit", "web/src", "config", "scripts")
_EXTS = (".py", ".tf", ".md", ".py", ".tsx", ".json", ".sh", ".yaml")
_PREFIXES = ("feat", "fix", "docs", "refactor", "test", "chore")
_WORDS = ("snapshot", "render", "notes", "gateway", "cursor", "tenant", "café", "数据", "🚀")


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
    rng = random.Random(seed)
    now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def phrase(n: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n))

    def path(i: int) -> str:
        return f"{_DIRS[i % len(_DIRS)]}/module_{i}{_EXTS[(i // 3) % len(_EXTS)]}"

    statuses = ("modified", "added", "deleted", "renamed")
    change_list: list[dict[str, Any]] = []
    for i in range(changes):
        status = statuses[i % 4]
        change: dict[str, Any] = {"path": path(i), "status": status}
        if status == "renamed":
            change["old_path"] = f"old/{path(i)}"
        change_list.append(change)
    kinds = ("TODO", "FIXME", "NOTE", "QUESTION", "HACK")
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
        "commits": [
            {
                "sha": f"{i:040x}",
                "message": f"{_PREFIXES[i % len(_PREFIXES)]}: {phrase(4)}\n\nbody text",
                "author": f"dev{i % 7}",
                "timestamp": iso(now - timedelta(minutes=37 * i)),
            }
            for i in range(commits)
        ],
        "changes": change_list,
        "markers": [
            {
                "path": path(i),
                "line": i + 1,
                "kind": kinds[i % len(kinds)],
                "text": phrase(5),
                "context": f"def function_{i}():",
            }
            for i in range(markers)
        ],
        "decisions": [f"Decision {i}: {phrase(6)}" for i in range(20)],
        "constraints": [f"Constraint {i}: {phrase(6)}" for i in range(10)],
        "tasks": [
            {"title": f"Task {i} {phrase(3)}", "status": ("done", "in_progress", "todo")[i % 3]}
            for i in range(tasks)
        ],
        "notes": [
            {
                "note_id": f"01HNOTE{i:019d}",
                "thread_id": thread_id,
                "kind": ("note", "decision", "question", "todo")[i % 4],
                "text": phrase(12),
                "source": {"path": path(i), "line": i + 1} if i % 2 else None,
                "tags": ["bench"],
                "created_at": iso(now - timedelta(minutes=i)),
            }
            for i in range(notes)
        ],
        "captured_at": iso(now),
        "created_at": iso(now),
    }
