"""`dockhand snapshot` / `dockhand rehydrate` on a real temporary git repository,
posting to a tiny stdlib HTTP server that records what it receives."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.cli import collect
from tools.cli import main as cli

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def run_git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def commit(repo: Path, message: str, author: str) -> None:
    run_git(repo, "add", "-A")
    run_git(
        repo,
        "-c",
        f"user.name={author}",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-q",
        "-m",
        message,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "My Project"
    root.mkdir()
    run_git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text(
        "import os\n"
        "# TODO: handle errors\n"
        "value = os.getcwd()\n"
        "# these notes are not a marker; annotate nothing\n"
        "# NOTES: plural is not NOTE\n"
        "def f():  # NOTE(ana): keep for v1\n"
        "    return 1\n",
        encoding="utf-8",
    )
    (root / "README.md").write_text(
        "# Title\n\n## TODO list heading\n<!-- QUESTION: ship it? -->\n"
    )
    (root / "old_name.py").write_text("x = 1\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "lib.js").write_text("// TODO: vendored, ignored\n")
    (root / "blob.bin").write_bytes(b"\0\x01# TODO: binary\n")
    commit(root, "feat: first ✨ café", "Zoë")
    (root / "app.py").write_text(
        (root / "app.py").read_text() + "# FIXME: race 数据\nrun()\n", encoding="utf-8"
    )
    run_git(root, "mv", "old_name.py", "new_name.py")
    commit_second = root / "infra.tf"
    commit_second.write_text("resource {}\n")
    run_git(root, "add", "infra.tf")
    commit(root, "fix(infra): add tf", "李雷")
    (root / "app.py").write_text((root / "app.py").read_text() + "\n", encoding="utf-8")
    run_git(root, "mv", "new_name.py", "renamed.py")
    (root / "README.md").unlink()
    (root / "untracked.txt").write_text("new\n")
    return root


def test_collect_commits_newest_first(repo: Path) -> None:
    body = collect.collect(repo, max_commits=50)
    assert [c["message"] for c in body["commits"]] == ["fix(infra): add tf", "feat: first ✨ café"]
    assert [c["author"] for c in body["commits"]] == ["李雷", "Zoë"]
    assert all(len(c["sha"]) == 40 for c in body["commits"])
    assert body["commits"][0]["timestamp"][:2] == "20"
    assert len(collect.collect(repo, max_commits=1)["commits"]) == 1
    assert body["repo"]["branch"] == "main"
    assert body["repo"]["head"] == body["commits"][0]["sha"]


def test_collect_changes(repo: Path) -> None:
    changes = {c["path"]: c for c in collect.collect(repo)["changes"]}
    assert changes["app.py"]["status"] == "modified"
    assert changes["README.md"]["status"] == "deleted"
    assert changes["untracked.txt"]["status"] == "added"
    assert changes["renamed.py"] == {
        "path": "renamed.py",
        "status": "renamed",
        "old_path": "new_name.py",
    }
    assert "new_name.py" not in changes


def test_collect_markers(repo: Path) -> None:
    markers = collect.collect(repo)["markers"]
    found = {(m["path"], m["line"], m["kind"], m["text"]) for m in markers}
    assert ("app.py", 2, "TODO", "handle errors") in found
    assert ("app.py", 6, "NOTE", "keep for v1") in found
    assert ("app.py", 8, "FIXME", "race 数据") in found
    assert all(m["path"] == "app.py" for m in markers)  # README deleted, vendored, binary
    assert len(markers) == 3  # "notes", "annotate" and "NOTES:" never match NOTE
    todo = next(m for m in markers if m["kind"] == "TODO")
    assert todo["context"] == "value = os.getcwd()"


def test_markers_in_text_rules() -> None:
    text = "<!-- QUESTION: ship it? -->\n## TODO heading\n/* HACK(x): y */\n  * FIXME: z\n"
    kinds = [(m["kind"], m["text"]) for m in collect.markers_in_text("a.md", text)]
    assert kinds == [("QUESTION", "ship it?"), ("HACK", "y"), ("FIXME", "z")]


def test_markers_inside_strings_are_ignored() -> None:
    text = 'x = "# TODO: not a comment"\ny = 1  # TODO: real\n'
    assert [m["text"] for m in collect.markers_in_text("a.py", text)] == ["real"]


def test_slugify() -> None:
    assert collect.slugify("My Project") == "my-project"
    assert collect.slugify("__Ünïcode!!") == "n-code"
    assert collect.slugify("!!!") == "thread"
    assert len(collect.slugify("a" * 100)) == 64


class Recorder(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    reply: tuple[int, str, bytes] = (201, "application/json", b"{}")

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Recorder.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": self.rfile.read(length) if length else b"",
            }
        )
        status, content_type, payload = Recorder.reply
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Recorder]]:
    Recorder.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKHAND_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("DOCKHAND_API_KEY", "dk_test_secret")
    yield Recorder
    httpd.shutdown()
    httpd.server_close()


CREATED = {
    "snapshot_id": "01JHSNAP000000000000000001",
    "thread_id": "my-project",
    "created_at": "2025-01-15T12:00:00.000Z",
    "sha256": "0" * 64,
    "size_bytes": 10,
    "counts": {"commits": 2, "changes": 4, "markers": 3, "notes": 0, "tasks": 0},
}


def test_snapshot_posts_and_prints_the_id(
    repo: Path, server: type[Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    server.reply = (201, "application/json", json.dumps(CREATED).encode())
    code = cli.main(
        ["snapshot", "--repo", str(repo), "--persona", "tech-lead", "--goal", "Ship ✅"]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == CREATED["snapshot_id"]
    sent = server.requests[0]
    assert (sent["method"], sent["path"]) == ("POST", "/hydrate")
    assert sent["headers"]["Authorization"] == "Bearer dk_test_secret"
    assert sent["headers"]["Content-Type"].startswith("application/json")
    body = json.loads(sent["body"].decode("utf-8"))
    assert body["thread"] == {"id": "my-project", "persona": "tech-lead", "goal": "Ship ✅"}
    assert body["repo"]["name"] == "My Project"
    assert {"commits", "changes", "markers"} <= set(body)


def test_snapshot_http_error_prints_the_envelope(
    repo: Path, server: type[Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    error = {"error": {"code": "forbidden", "message": "This key may not do that.", "details": []}}
    server.reply = (403, "application/json", json.dumps(error).encode())
    assert cli.main(["snapshot", "--repo", str(repo)]) == 1
    assert "HTTP 403 forbidden: This key may not do that." in capsys.readouterr().err


def test_snapshot_outside_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["snapshot", "--repo", str(tmp_path)]) == 1
    assert "dockhand: git:" in capsys.readouterr().err


def test_unreachable_api(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKHAND_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOCKHAND_API_KEY", "dk_x_y")
    assert cli.main(["snapshot", "--repo", str(repo)]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_rehydrate_prints_the_document_byte_for_byte(
    server: type[Recorder], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    document = '---\ngoal: "⚠️ café"\n---\n\n# Rehydrate: ⚠️ café 数据\n'
    server.reply = (200, "text/markdown; charset=utf-8", document.encode("utf-8"))
    code = cli.main(["rehydrate", CREATED["snapshot_id"], "--max-tokens", "500", "--since", "X1"])
    assert code == 0
    assert capfdbinary.readouterr().out == document.encode("utf-8")
    path = server.requests[0]["path"]
    assert path.startswith(f"/rehydrate/{CREATED['snapshot_id']}?")
    assert "max_tokens=500" in path
    assert "since=X1" in path


def test_rehydrate_by_thread_and_json(
    server: type[Recorder], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    server.reply = (200, "application/json", json.dumps({"title": "Rehydrate: ✅"}).encode())
    assert cli.main(["rehydrate", "--thread", "my-project", "--format", "json"]) == 0
    assert json.loads(capfdbinary.readouterr().out) == {"title": "Rehydrate: ✅"}
    assert server.requests[0]["path"] == "/rehydrate?format=json&thread_id=my-project"


def test_rehydrate_needs_exactly_one_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rehydrate"]) == 1
    assert cli.main(["rehydrate", "X", "--thread", "t"]) == 1
    assert "one of them" in capsys.readouterr().err


def test_missing_key_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.cli import localstate

    monkeypatch.delenv("DOCKHAND_API_KEY", raising=False)
    monkeypatch.setattr(localstate, "STATE_FILE", tmp_path / "none.json")
    assert cli.main(["rehydrate", "X"]) == 1
    assert "DOCKHAND_API_KEY" in capsys.readouterr().err
