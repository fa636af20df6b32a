"""Context over real HTTP through the local gateway: notes, hydrate → rehydrate with unicode,
tenant isolation, 413 over 5 MiB, and the CLI against the running gateway."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e

UNICODE = "⚠️ naïve café 日本語 🚀"
MOJIBAKE = "⚠️".encode().decode("mac_roman")


def snapshot(thread: str) -> dict[str, Any]:
    return {
        "thread": {"id": thread, "goal": f"Goal {UNICODE}", "persona": "qa-engineer"},
        "repo": {"name": "shop", "branch": "main", "head": "abc"},
        "commits": [
            {
                "sha": "a" * 40,
                "message": f"feat: {UNICODE}",
                "author": "Zoë",
                "timestamp": "2025-01-15T10:00:00Z",
            }
        ],
        "changes": [{"path": f"app/{UNICODE}.py", "status": "added"}],
        "markers": [{"path": "app/x.py", "line": 3, "kind": "QUESTION", "text": UNICODE}],
        "decisions": [UNICODE],
        "captured_at": "2025-01-15T12:00:00Z",
    }


def test_hydrate_rehydrate_round_trip_with_unicode(gateway: Gateway) -> None:
    note = gateway.http(
        "POST", "/notes", gateway.key, {"thread_id": "e2e-unicode", "text": f"note {UNICODE}"}
    )
    assert note.status == 201
    assert note.json["text"] == f"note {UNICODE}"
    created = gateway.http("POST", "/hydrate", gateway.key, snapshot("e2e-unicode"))
    assert created.status == 201, created.body
    snapshot_id = created.json["snapshot_id"]
    assert created.json["counts"]["notes"] == 1

    document = gateway.http("GET", f"/rehydrate/{snapshot_id}", gateway.key)
    assert document.status == 200
    assert document.headers["content-type"] == "text/markdown; charset=utf-8"
    assert f"# Rehydrate: Goal {UNICODE}\n" in document.body
    assert f"- {UNICODE}\n" in document.body  # decision, byte for byte
    assert f"note {UNICODE}" in document.body
    assert MOJIBAKE not in document.body
    assert "**Role:** QA engineer" in document.body

    as_json = gateway.http("GET", f"/rehydrate/{snapshot_id}?format=json", gateway.key)
    assert as_json.json["front_matter"]["goal"] == f"Goal {UNICODE}"
    newest = gateway.http("GET", "/rehydrate?thread_id=e2e-unicode", gateway.key)
    assert newest.body == document.body
    listed = gateway.http("GET", "/snapshots?thread_id=e2e-unicode", gateway.key)
    assert [s["snapshot_id"] for s in listed.json["items"]] == [snapshot_id]


def test_tenant_isolation(gateway: Gateway) -> None:
    created = gateway.http("POST", "/hydrate", gateway.key, snapshot("e2e-private"))
    snapshot_id = created.json["snapshot_id"]
    note_id = gateway.http(
        "POST", "/notes", gateway.key, {"thread_id": "e2e-private", "text": "secret"}
    ).json["note_id"]
    other = gateway.create_key("e2e-other", "creator")
    for path in (
        f"/rehydrate/{snapshot_id}",
        f"/snapshots/{snapshot_id}",
        f"/notes/{note_id}",
        "/rehydrate?thread_id=e2e-private",
    ):
        result = gateway.http("GET", path, other)
        assert (result.status, result.error_code) == (404, "not_found"), path
    assert gateway.http("DELETE", f"/notes/{note_id}", other).status == 404
    empty = gateway.http("GET", "/notes?thread_id=e2e-private", other)
    assert empty.json["items"] == []


def test_hydrate_over_5_mib_is_413(gateway: Gateway) -> None:
    body = b'{"thread": {"id": "big"}, "decisions": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'
    result = gateway.http(
        "POST", "/hydrate", gateway.key, data=body, headers={"Content-Type": "application/json"}
    )
    assert (result.status, result.error_code) == (413, "payload_too_large")


def test_viewer_can_read_but_not_write(gateway: Gateway) -> None:
    viewer = gateway.create_key("local", "viewer")
    assert gateway.http("POST", "/hydrate", viewer, snapshot("e2e-viewer")).status == 403
    assert gateway.http("POST", "/notes", viewer, {"thread_id": "x", "text": "y"}).status == 403
    assert gateway.http("GET", "/notes?thread_id=x", viewer).status == 200


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_cli_snapshot_and_rehydrate(gateway: Gateway, tmp_path: Path) -> None:
    repo = tmp_path / "cli-repo"
    repo.mkdir()
    (repo / "main.py").write_text(f"# TODO: finish {UNICODE}\nprint('hi')\n", encoding="utf-8")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=Zoë", "-c", "user.email=z@example.com", "commit", "-qm", "feat: init")
    (repo / "main.py").write_text("print('changed')\n# NOTE: kept\n", encoding="utf-8")

    created = gateway.cli("snapshot", "--repo", str(repo), "--goal", f"CLI {UNICODE}")
    snapshot_id = created.stdout.strip()
    assert len(snapshot_id) == 26
    document = gateway.cli("rehydrate", snapshot_id)
    assert f"# Rehydrate: CLI {UNICODE}" in document.stdout
    assert 'thread_id: "cli-repo"' in document.stdout
    assert "feat: init — Zoë" in document.stdout
    by_thread = gateway.cli("rehydrate", "--thread", "cli-repo", "--format", "json")
    assert json.loads(by_thread.stdout)["front_matter"]["snapshot_id"] == snapshot_id
    missing = gateway.cli("rehydrate", "01ARZ3NDEKTSV4RRFFQ69G5FAV", check=False)
    assert missing.returncode == 1
    assert "HTTP 404 not_found" in missing.stderr
