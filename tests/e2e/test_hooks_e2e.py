"""The assistant's loop end to end against the local gateway: `dockhand hooks install`
writes Claude Code's hooks; the commands it wrote, run as Claude Code runs them (a shell,
the recorded hook input on stdin), take a snapshot before compaction and give the
document back at the next session start, notes written since included; `uninstall`
leaves the settings as they were."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.context.render import estimate_tokens
from tests.e2e.conftest import DOCKHAND_CLI, REPO, Gateway

pytestmark = pytest.mark.e2e

RECORDED = REPO / "tests" / "unit" / "data" / "claude_code_hooks"
THREAD = "hooks-loop"
USER_SETTINGS: dict[str, Any] = {
    "permissions": {"allow": ["Bash(make test)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}]
    },
}


def recorded(name: str, repo: Path) -> str:
    return (RECORDED / f"{name}.json").read_text().replace("REPO", str(repo))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "README.md").write_text(
        "---\ntitle: Shop\n---\n# Shop\n\n[![CI](https://ci/badge.svg)](https://ci)\n\n"
        "A checkout service for the corner shop.\n",
        encoding="utf-8",
    )
    (repo / "Makefile").write_text("test:\n\tpytest\n", encoding="utf-8")
    (repo / "app.py").write_text("# TODO: refunds\nprint('hi')\n", encoding="utf-8")
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(USER_SETTINGS), encoding="utf-8")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=Zoë", "-c", "user.email=z@example.com", "commit", "-qm", "feat: cart"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


def dockhand(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCKHAND_CLI, *args],
        env=gateway.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def commands(repo: Path) -> dict[str, Any]:
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    hooks = settings["hooks"]
    [pre] = [h["command"] for g in hooks["PreCompact"] for h in g["hooks"]]
    starts = {g["matcher"]: g["hooks"][0]["command"] for g in hooks["SessionStart"]}
    return {"pre": pre, "start": starts, "settings": settings}


def run_hook(
    command: str, stdin: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """As Claude Code runs a command hook: through a shell, the input on stdin."""
    return subprocess.run(
        ["sh", "-c", command],
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_the_loop_survives_compaction(gateway: Gateway, project: Path) -> None:
    key = gateway.create_key("hooks-acme", "creator")
    env = {**gateway.env, "DOCKHAND_API_KEY": key, "PATH": os.environ.get("PATH", "")}
    installed = dockhand(
        gateway,
        "hooks",
        "install",
        "--repo",
        str(project),
        "--thread",
        THREAD,
        "--max-tokens",
        "1500",
    )
    assert installed.returncode == 0, installed.stderr
    found = commands(project)
    assert set(found["start"]) == {"startup", "resume", "compact"}
    assert found["settings"]["permissions"] == USER_SETTINGS["permissions"]
    assert found["settings"]["hooks"]["PreToolUse"] == USER_SETTINGS["hooks"]["PreToolUse"]

    # Before any snapshot: session start says nothing, and fails nothing.
    empty = run_hook(
        found["start"]["startup"], recorded("session_start_startup", project), env, project
    )
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "no snapshot yet" in empty.stderr

    goal = {"thread": {"id": THREAD, "goal": "Refunds by Friday ✨"}}
    assert gateway.http("POST", "/hydrate", key=key, json=goal).status == 201
    pre = run_hook(found["pre"], recorded("pre_compact_auto", project), env, project)
    assert pre.returncode == 0, pre.stderr
    assert "before auto compaction" in pre.stderr
    assert pre.stdout == ""
    note = {"thread_id": THREAD, "text": "Refund within 30 days", "kind": "decision"}
    assert gateway.http("POST", "/notes", key=key, json=note).status == 201

    start = run_hook(
        found["start"]["compact"], recorded("session_start_compact", project), env, project
    )
    assert start.returncode == 0, start.stderr
    output = json.loads(start.stdout)
    assert output["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    context = output["hookSpecificOutput"]["additionalContext"]
    document = context.split("\n\n", 1)[1]
    assert estimate_tokens(document) <= 1500
    assert "# Rehydrate: Refunds by Friday ✨" in document  # the goal carried over
    assert "A checkout service for the corner shop." in document  # the Project section
    assert "**Test command:** `make test`" in document
    newer = document.split("## Newer than this snapshot")[1]
    assert "Refund within 30 days" in newer

    uninstalled = dockhand(gateway, "hooks", "uninstall", "--repo", str(project))
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert json.loads((project / ".claude" / "settings.json").read_text()) == USER_SETTINGS


def test_the_hooks_never_fail_the_assistant(gateway: Gateway, project: Path) -> None:
    assert (
        dockhand(gateway, "hooks", "install", "--repo", str(project), "--thread", THREAD).returncode
        == 0
    )
    found = commands(project)
    bad = {**gateway.env, "DOCKHAND_API_KEY": "dk_nope_nope", "PATH": os.environ.get("PATH", "")}
    for command, name in (
        (found["pre"], "pre_compact_manual"),
        (found["start"]["resume"], "session_start_compact"),
    ):
        for stdin in (recorded(name, project), "not json at all", ""):
            result = run_hook(command, stdin, bad, project)
            assert (result.returncode, result.stdout) == (0, ""), result.stderr
            assert result.stderr.startswith("dockhand: ")
