"""Synthetic project snapshots in the contract's POST /hydrate shape."""

from __future__ import annotations

import json
from typing import Any

_DIRS = ("infra/modules/fn", "common", "handlers", "web/src", "config", "docs", "tests/unit")
_EXTS = (".tf", ".py", ".py", ".tsx", ".yaml", ".md", ".py")


def hydrate_body(changes: int, thread_id: str = "bench-thread") -> dict[str, Any]:
    """A snapshot with `changes` changed files and commits (≤1,000), markers and
    tasks in proportion; text includes accents, CJK and emoji like real repos do."""
    commits = min(max(changes // 2, 1), 1000)
    markers = max(changes // 5, 1)
    return {
        "thread": {
            "id": thread_id,
            "goal": "Ship the inbox — café ✓ 設計",
            "persona": "backend",
            "focus": "triggers",
            "output": "a working inbox",
            "constraints": "no scans",
        },
        "repo": {"name": "dockhand", "branch": "main", "head": "f" * 40},
        "commits": [
            {
                "sha": f"{i:040x}",
                "message": f"feat(inbox): step {i} of the sparse index work 🚀",
                "author": "Zoë Dev",
                "timestamp": f"2026-01-{1 + i % 28:02d}T10:00:00.000Z",
            }
            for i in range(commits)
        ],
        "changes": [
            {
                "path": f"{_DIRS[i % len(_DIRS)]}/file_{i}{_EXTS[i % len(_EXTS)]}",
                "status": ("added", "modified", "deleted")[i % 3],
            }
            for i in range(changes)
        ],
        "markers": [
            {
                "path": f"common/file_{i}.py",
                "line": i + 1,
                "kind": ("TODO", "FIXME", "NOTE", "QUESTION", "HACK")[i % 5],
                "text": f"revisit shard count {i}",
                "context": "    shards = settings().inbox_shards",
            }
            for i in range(markers)
        ],
        "decisions": ["Sparse GSI for the inbox", "Derived agent secrets"],
        "constraints": ["No scans on request paths"],
        "tasks": [
            {"title": f"task {i}", "status": ("done", "in_progress", "todo")[i % 3]}
            for i in range(max(changes // 20, 1))
        ],
    }


def hydrate_body_of_size(target_bytes: int) -> dict[str, Any]:
    """The smallest synthetic snapshot whose JSON is at least `target_bytes`."""
    changes = 10
    while True:
        body = hydrate_body(changes)
        if len(json.dumps(body).encode()) >= target_bytes:
            return body
        changes += 10
