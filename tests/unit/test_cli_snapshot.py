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


@pytest.fixture(autouse=True)
def no_local_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never pick up a developer's `make run` state files."""
    from tools.cli import localstate

    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path / "state")
    localstate.forget()


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


def markers(path: str, text: str) -> list[tuple[int, str, str]]:
    return [(m["line"], m["kind"], m["text"]) for m in collect.markers_in_text(path, text)]


def test_markdown_comments_are_html_comments_and_prose_is_not() -> None:
    text = (
        "<!-- QUESTION: ship it? -->\n## TODO heading\n- NOTE: a bullet, not a comment\n"
        "NOTE: prose\n; FIXME not lisp\n-- HACK not sql\n<!--\nTODO: inside a block\n-->\n"
    )
    assert markers("a.md", text) == [(1, "QUESTION", "ship it?"), (8, "TODO", "inside a block")]


def test_c_like_line_and_block_comments() -> None:
    text = (
        "/* HACK(x): y */\n/**\n * FIXME: z\n */\nint a; // NOTE: n\n"
        's = "// TODO: in a string";\nx = a -- b; // TODO: after code\n; NOTE: no\n'
    )
    expected = [(1, "HACK", "y"), (3, "FIXME", "z"), (5, "NOTE", "n"), (7, "TODO", "after code")]
    for path in ("a.c", "b.ts", "c.go", "d.rs", "E.java", "f.js"):
        assert markers(path, text) == expected, path


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("a.py", "x = 1  # TODO: py\ny = a -- 1  ; NOTE: no\n", [(1, "TODO", "py")]),
        ("a.sh", "#!/bin/sh\n# FIXME: sh\n", [(2, "FIXME", "sh")]),
        ("c.yaml", "k: v # NOTE: yaml\n// TODO: no\n", [(1, "NOTE", "yaml")]),
        ("p.toml", "# HACK: toml\n", [(1, "HACK", "toml")]),
        ("q.sql", "select 1; -- TODO: idx\n# NOTE: no\n", [(1, "TODO", "idx")]),
        ("m.lua", "x = 1 -- QUESTION: why?\n", [(1, "QUESTION", "why?")]),
        ("m.hs", "f = 1 -- TODO: hs\n", [(1, "TODO", "hs")]),
        ("c.el", ";; TODO: lisp\n# NOTE: no\n", [(1, "TODO", "lisp")]),
        ("s.ini", "; FIXME: ini\n", [(1, "FIXME", "ini")]),
        ("boot.asm", "mov ax, 1 ; NOTE: asm\n", [(1, "NOTE", "asm")]),
        ("p.html", "<p>NOTE: prose</p><!-- TODO: html -->\n", [(1, "TODO", "html")]),
        ("Makefile", "# TODO: make\n", [(1, "TODO", "make")]),
        ("bin/tool", "#!/usr/bin/env python3\n# TODO: script\n", [(2, "TODO", "script")]),
        ("notes.txt", "# TODO: a text file has no comments\n", []),
        ("data.json", '{"a": "# TODO"}\n', []),
    ],
)
def test_markers_follow_each_file_types_comment_syntax(
    path: str, text: str, expected: list[tuple[int, str, str]]
) -> None:
    assert markers(path, text) == expected


def test_markers_inside_strings_are_ignored() -> None:
    text = 'x = "# TODO: not a comment"\ny = 1  # TODO: real\n'
    assert [m["text"] for m in collect.markers_in_text("a.py", text)] == ["real"]


def test_untracked_files_that_are_not_ignored_have_their_markers_read(repo: Path) -> None:
    (repo / ".gitignore").write_text("ignored.py\nbuild/\n")
    (repo / "fresh.py").write_text("# TODO: not yet added\n")
    (repo / "ignored.py").write_text("# TODO: ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "gen.py").write_text("# TODO: ignored too\n")

    found = {(m["path"], m["text"]) for m in collect.collect(repo)["markers"]}

    assert ("fresh.py", "not yet added") in found
    assert not {path for path, _ in found} & {"ignored.py", "build/gen.py"}


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
    assert "constraints" not in body


def test_constraints_reach_the_thread_and_the_document_and_output_the_thread(
    repo: Path, server: type[Recorder]
) -> None:
    server.reply = (201, "application/json", json.dumps(CREATED).encode())
    args = ["snapshot", "--repo", str(repo), "--output", "a PR with tests"]
    args += ["--constraints", "no new dependencies", "--constraints", "keep the API stable"]

    assert cli.main(args) == 0

    body = json.loads(server.requests[0]["body"].decode("utf-8"))
    assert body["thread"]["output"] == "a PR with tests"
    assert body["thread"]["constraints"] == "no new dependencies; keep the API stable"
    assert body["constraints"] == ["no new dependencies", "keep the API stable"]


def test_constraints_are_scanned_for_secrets_before_sending(
    repo: Path, server: type[Recorder]
) -> None:
    server.reply = (201, "application/json", json.dumps(CREATED).encode())
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

    assert cli.main(["snapshot", "--repo", str(repo), "--constraints", f"use {token}"]) == 0

    sent = server.requests[0]["body"].decode("utf-8")
    assert token not in sent
    assert "[REDACTED:" in json.loads(sent)["constraints"][0]


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
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path)
    localstate.forget()
    assert cli.main(["rehydrate", "X"]) == 1
    assert "DOCKHAND_API_KEY" in capsys.readouterr().err
