"""`dockhand hooks`: merging into .claude/settings.json (idempotent, other settings kept,
uninstall exact), and the two hook commands on recorded Claude Code inputs: the output
format, the budget, and never failing the assistant."""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_cli_snapshot import (  # noqa: F401
    CREATED,
    Recorder,
    commit,
    no_local_runs,
    repo,
    server,
)
from tools.cli import hooks
from tools.cli import main as cli

RECORDED = Path(__file__).parent / "data" / "claude_code_hooks"
USER: dict[str, Any] = {
    "model": "opus",
    "hooks": {
        "SessionStart": [
            {"matcher": "startup", "hooks": [{"type": "command", "command": "echo mine"}]}
        ],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}],
    },
}


def settings_of(repo_dir: Path) -> Any:
    return json.loads((repo_dir / ".claude" / "settings.json").read_text())


def ours(settings: dict[str, Any], event: str) -> list[tuple[str | None, str]]:
    return [
        (group.get("matcher"), handler["command"])
        for group in settings["hooks"].get(event, [])
        for handler in group["hooks"]
        if hooks.is_ours(handler)
    ]


def test_install_merges_and_uninstall_restores(repo: Path) -> None:  # noqa: F811
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(USER))
    args = ["hooks", "install", "--repo", str(repo), "--thread", "shop", "--command", "dockhand"]
    assert cli.main(args) == 0
    settings = settings_of(repo)
    assert settings["model"] == "opus"
    assert settings["hooks"]["PreToolUse"] == USER["hooks"]["PreToolUse"]
    assert settings["hooks"]["SessionStart"][0] == USER["hooks"]["SessionStart"][0]
    start = "dockhand hooks session-start --thread shop --max-tokens 2000"
    assert ours(settings, "SessionStart") == [
        ("startup", start),
        ("resume", start),
        ("compact", start),
    ]
    assert ours(settings, "PreCompact") == [(None, "dockhand hooks pre-compact --thread shop")]
    before = (repo / ".claude" / "settings.json").read_bytes()
    assert cli.main(args) == 0  # idempotent
    assert (repo / ".claude" / "settings.json").read_bytes() == before
    assert cli.main([*args[:-4], "--thread", "other", "--command", "dockhand"]) == 0
    assert len(ours(settings_of(repo), "SessionStart")) == 3  # replaced, not added
    assert "--thread other" in ours(settings_of(repo), "PreCompact")[0][1]
    assert cli.main(["hooks", "uninstall", "--repo", str(repo)]) == 0
    assert settings_of(repo) == USER


def test_install_without_settings_and_uninstall_leaves_nothing(repo: Path) -> None:  # noqa: F811
    assert cli.main(["hooks", "install", "--repo", str(repo)]) == 0
    command = ours(settings_of(repo), "PreCompact")[0][1]
    assert command.endswith("hooks pre-compact --thread my-project")  # the repo's name
    assert "dockhand" in command
    assert cli.main(["hooks", "uninstall", "--repo", str(repo)]) == 0
    assert not (repo / ".claude").exists()
    assert cli.main(["hooks", "uninstall", "--repo", str(repo)]) == 0  # nothing to do


@pytest.mark.parametrize("content", ["{not json", "[]", '{"hooks": []}'])
def test_settings_that_are_not_an_object_are_left_alone(
    repo: Path,  # noqa: F811
    content: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(content)
    assert cli.main(["hooks", "install", "--repo", str(repo)]) == 1
    assert (repo / ".claude" / "settings.json").read_text() == content
    assert "nothing changed" in capsys.readouterr().err


def run_hook(
    monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str
) -> tuple[int, str, str, Any]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    code = cli.main(["hooks", *args])
    return code, out.getvalue(), err.getvalue(), None


def recorded(name: str, where: Path) -> str:
    return (RECORDED / f"{name}.json").read_text().replace("REPO", str(where))


def test_session_start_prints_the_document_as_additional_context(
    repo: Path,  # noqa: F811
    server: type[Recorder],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.reply = (200, "text/markdown; charset=utf-8", "---\n# Rehydrate: Ship ✨\n".encode())
    stdin = recorded("session_start_compact", repo)
    args = ["session-start", "--thread", "shop", "--max-tokens", "1200"]
    code, out, err, _ = run_hook(monkeypatch, args, stdin)
    assert (code, err) == (0, "")
    output = json.loads(out)
    assert list(output) == ["hookSpecificOutput"]
    assert output["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    context = output["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("dockhand: the context document of thread `shop` (compact)")
    assert context.endswith("---\n# Rehydrate: Ship ✨\n")
    assert out.isascii()  # whatever the assistant's locale
    sent = server.requests[0]
    path, _, query = sent["path"].partition("?")
    assert path == "/rehydrate"
    assert urllib.parse.parse_qs(query) == {"thread_id": ["shop"], "max_tokens": ["1200"]}


def test_session_start_context_stays_under_claude_codes_limit(
    server: type[Recorder],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.reply = (200, "text/markdown", ("x" * 50_000).encode())
    code, out, _, _ = run_hook(monkeypatch, ["session-start", "--thread", "shop"], "{}")
    assert code == 0
    assert len(json.loads(out)["hookSpecificOutput"]["additionalContext"]) <= 10_000


@pytest.mark.parametrize("status", [404, 401, 500])
@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", '{"source": 7}'])
def test_session_start_never_fails(
    server: type[Recorder],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    stdin: str,
) -> None:
    error = {"error": {"code": "x", "message": "no", "details": []}}
    server.reply = (status, "application/json", json.dumps(error).encode())
    code, out, err, _ = run_hook(monkeypatch, ["session-start", "--thread", "shop"], stdin)
    assert (code, out) == (0, "")
    assert err.startswith("dockhand: ")


def test_hooks_without_any_api_never_fail(
    repo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKHAND_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("DOCKHAND_API_KEY", "dk_x_y")
    for name, args in (
        ("session_start_startup", ["session-start", "--thread", "shop"]),
        ("pre_compact_auto", ["pre-compact", "--thread", "shop"]),
    ):
        code, out, err, _ = run_hook(monkeypatch, args, recorded(name, repo))
        assert (code, out) == (0, "")
        assert err.startswith("dockhand: ")


def test_pre_compact_snapshots_the_sessions_repository(
    repo: Path,  # noqa: F811
    server: type[Recorder],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server.reply = (201, "application/json", json.dumps(CREATED).encode())
    monkeypatch.chdir(tmp_path)  # not the repository: the input's cwd says where
    stdin = recorded("pre_compact_manual", repo)
    code, out, err, _ = run_hook(monkeypatch, ["pre-compact", "--thread", "shop"], stdin)
    assert (code, out) == (0, "")
    assert f"snapshot {CREATED['snapshot_id']} of thread shop before manual compaction" in err
    body = json.loads(server.requests[0]["body"])
    assert body["thread"] == {"id": "shop"}  # no goal: the thread's last one carries on
    assert body["repo"]["name"] == "My Project"
    assert body["project"]["layout"]
