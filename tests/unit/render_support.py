"""Render test support: one whole snapshot document, as the renderer's tests and its
reader's tests start from it."""

from __future__ import annotations

from typing import Any

NOW = "2025-01-15T12:00:00.000Z"


def doc(**overrides: Any) -> dict[str, Any]:
    """A whole snapshot document (a fresh one per call: tests change theirs)."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "snapshot_id": "01JHSNAP000000000000000001",
        "thread": {
            "id": "payments",
            "goal": "Partial refunds ⚠️ café 数据",
            "persona": "senior-backend-dev",
            "focus": "refund API",
            "output": "a pull request",
            "constraints": "no downtime",
        },
        "repo": {"name": "shop", "branch": "feature/refunds", "head": "abc123def4567890"},
        "commits": _commits(),
        "changes": _changes(),
        "markers": _markers(),
        "decisions": ["Refunds are idempotent"],
        "constraints": ["PCI scope unchanged"],
        "tasks": [
            {"title": "API", "status": "done"},
            {"title": "UI", "status": "in_progress"},
            {"title": "Docs", "status": "todo"},
        ],
        "notes": _notes(),
        "captured_at": NOW,
        "created_at": NOW,
    }
    document.update(overrides)
    return document


def _commits() -> list[dict[str, Any]]:
    return [
        {
            "sha": "a" * 40,
            "message": "feat(refunds): partial refunds\n\nlong body",
            "author": "Zoë",
            "timestamp": "2025-01-15T09:00:00Z",
        },
        {
            "sha": "b" * 40,
            "message": "fix: refunds rounding",
            "author": "李雷",
            "timestamp": "2025-01-13T12:00:00Z",
        },
    ]


def _changes() -> list[dict[str, Any]]:
    return [
        {"path": "app/refunds.py", "status": "modified"},
        {"path": "app/models.py", "status": "modified"},
        {"path": "app/api.py", "status": "added"},
        {"path": "app/util.py", "status": "deleted"},
        {"path": "app/new.py", "status": "renamed", "old_path": "app/old.py"},
        {"path": "infra/main.tf", "status": "modified"},
        {"path": "package.json", "status": "modified"},
        {"path": "tests/test_refunds.py", "status": "added"},
    ]


def _markers() -> list[dict[str, Any]]:
    return [
        {"path": "app/refunds.py", "line": 12, "kind": "TODO", "text": "handle currency"},
        {
            "path": "app/refunds.py",
            "line": 40,
            "kind": "QUESTION",
            "text": "refund fees too",
            "context": "fee = total * rate",
        },
        {"path": "app/api.py", "line": 3, "kind": "FIXME", "text": "race on retry"},
        {"path": "app/api.py", "line": 9, "kind": "NOTE", "text": "kept for v1 clients"},
    ]


def _notes() -> list[dict[str, Any]]:
    return [
        {"note_id": "N1", "kind": "decision", "text": "Use cents", "tags": ["money"]},
        {
            "note_id": "N2",
            "kind": "question",
            "text": "Who approves? 🤔",
            "source": {"path": "app/api.py", "line": 7},
        },
        {"note_id": "N3", "kind": "note", "text": "Stripe sandbox is slow"},
    ]
