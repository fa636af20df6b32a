"""Secrets and threads over real HTTP through the local gateway: `dockhand snapshot` on a
repository with planted secrets (nothing leaks into any response or the rehydrated
document), GET /threads, DELETE /snapshots and DELETE /threads, tenant isolation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "Qw3rTy7uIo" * 3 + "Pa5sDf"
SLACK = "xoxb-" + "2918475610" + "-" + "Vb7nQ2mX9kLp4Rt8"
PLANTED = (AWS_ID, GITHUB, SLACK, "hunter2-e2e-secret")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_snapshot_with_planted_secrets_then_delete_the_thread(
    gateway: Gateway, tmp_path: Path
) -> None:
    repo = tmp_path / "leaky-e2e"
    repo.mkdir()
    (repo / "app.py").write_text(
        f"# TODO: drop {AWS_ID}\n# FIXME: slack {SLACK}\n"
        '# TODO: password = "hunter2-e2e-secret"\nprint(1)\n',
        encoding="utf-8",
    )
    (repo / ".env").write_text("# TODO: hunter2-e2e-secret\n", encoding="utf-8")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=Dev", "-c", "user.email=d@example.com", "commit", "-qm", f"ci {GITHUB}")

    dry = gateway.cli("snapshot", "--repo", str(repo), "--dry-run")
    created = gateway.cli("snapshot", "--repo", str(repo), "--json")
    for secret in PLANTED:
        assert secret not in dry.stdout + dry.stderr + created.stdout + created.stderr
    assert "[REDACTED:aws_access_key_id] x1: app.py:1" in created.stderr
    snapshot_id = json_field(created.stdout, "snapshot_id")
    document = gateway.cli("rehydrate", snapshot_id)
    for secret in PLANTED:
        assert secret not in document.stdout
    assert "[REDACTED:slack_token]" in document.stdout

    key = gateway.create_key("e2e-threads", "creator")
    other = gateway.create_key("e2e-threads-other", "creator")
    gateway.http("POST", "/notes", key, {"thread_id": "t-e2e", "text": f"see {GITHUB}"})
    snap = gateway.http("POST", "/hydrate", key, {"thread": {"id": "t-e2e", "goal": "G"}})
    assert snap.status == 201
    listed = gateway.http("GET", "/threads", key)
    assert [t["thread_id"] for t in listed.json["items"]] == ["t-e2e"]
    assert GITHUB not in listed.body
    sid = snap.json["snapshot_id"]
    assert gateway.http("DELETE", f"/snapshots/{sid}", other).status == 404
    assert gateway.http("DELETE", "/threads/t-e2e", other).status == 404
    assert gateway.http("DELETE", f"/snapshots/{sid}", key).status == 204
    assert gateway.http("GET", f"/snapshots/{sid}", key).status == 404
    assert gateway.http("DELETE", "/threads/t-e2e", key).status == 204
    assert gateway.http("GET", "/threads", key).json["items"] == []
    assert gateway.http("DELETE", "/threads/t-e2e", key).status == 404


def json_field(text: str, name: str) -> str:
    import json

    return str(json.loads(text)[name])
