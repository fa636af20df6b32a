"""Which `make run` the CLI uses: one state file per run, chosen by DOCKHAND_URL, --port,
or being the only live one; stale files are ignored and deleted."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.cli import localstate
from tools.cli import main as cli


@pytest.fixture(autouse=True)
def state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path)
    monkeypatch.setattr(localstate, "selected_port", None)
    monkeypatch.delenv("DOCKHAND_URL", raising=False)
    monkeypatch.delenv("DOCKHAND_API_KEY", raising=False)
    localstate.forget()
    yield tmp_path
    localstate.forget()


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def listening_port(listeners: list[socket.socket]) -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    listeners.append(sock)
    return int(sock.getsockname()[1])


def dead_pid() -> int:
    return 2**22 + 12345  # above the largest pid_max Linux allows: never a live process


def write_run(port: int, pid: int | None = None, key: str = "dk_k") -> Path:
    return localstate.write_state(
        {
            "api_url": f"http://127.0.0.1:{port}",
            "bootstrap_key": f"{key}-{port}",
            "env": {"DOCKHAND_TABLE_PREFIX": f"local-{port}"},
            "pid": os.getpid() if pid is None else pid,
        }
    )


def test_each_run_has_its_own_file_and_removes_only_its_own(
    listeners: list[socket.socket], state_dir: Path
) -> None:
    first, second = listening_port(listeners), listening_port(listeners)
    first_file, second_file = write_run(first), write_run(second)

    assert first_file == state_dir / f"local-{first}.json"
    assert second_file == state_dir / f"local-{second}.json"
    assert first_file.stat().st_mode & 0o077 == 0  # it holds the master key

    localstate.clear_state(f"http://127.0.0.1:{second}", os.getpid())
    assert first_file.exists()
    assert not second_file.exists()


def test_a_run_never_removes_a_file_another_process_wrote(listeners: list[socket.socket]) -> None:
    port = listening_port(listeners)
    path = write_run(port, pid=os.getppid())

    localstate.clear_state(f"http://127.0.0.1:{port}", os.getpid())

    assert path.exists()


def test_the_only_live_run_is_used_and_named(
    listeners: list[socket.socket], capsys: pytest.CaptureFixture[str]
) -> None:
    port = listening_port(listeners)
    write_run(port)

    state = localstate.apply_state()

    assert state is not None
    assert state["api_url"] == f"http://127.0.0.1:{port}"
    assert f"using the `make run` at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_stale_files_are_ignored_and_deleted(
    listeners: list[socket.socket], state_dir: Path
) -> None:
    live = listening_port(listeners)
    closed = listening_port(listeners)
    listeners.pop().close()  # its port is closed now: that run is gone
    write_run(live)
    dead_file = write_run(listening_port(listeners), pid=dead_pid())
    closed_file = write_run(closed)
    legacy = state_dir / "local.json"
    legacy.write_text(json.dumps({"api_url": "http://127.0.0.1:1", "pid": dead_pid()}))

    run = localstate.find_state()

    assert run is not None
    assert run.port == live
    assert not dead_file.exists()
    assert not closed_file.exists()
    assert not legacy.exists()


def test_several_runs_newest_is_used_and_the_message_says_how_to_choose(
    listeners: list[socket.socket], capsys: pytest.CaptureFixture[str]
) -> None:
    older, newer = listening_port(listeners), listening_port(listeners)
    older_file = write_run(older)
    os.utime(older_file, (1_000_000, 1_000_000))
    write_run(newer)

    run = localstate.find_state()

    assert run is not None
    assert run.port == newer
    err = capsys.readouterr().err
    assert f"ports {newer}, {older}" in err or f"ports {older}, {newer}" in err
    assert "--port N" in err
    assert "DOCKHAND_URL" in err


def test_dockhand_url_selects_its_run_and_its_key(
    listeners: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.cli import snapshot

    first, second = listening_port(listeners), listening_port(listeners)
    write_run(first)
    write_run(second)
    monkeypatch.setenv("DOCKHAND_URL", f"http://localhost:{first}")

    assert snapshot.api_target() == (f"http://localhost:{first}", f"dk_k-{first}")


def test_dockhand_url_elsewhere_never_gets_a_local_key(
    listeners: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.cli import snapshot

    write_run(listening_port(listeners))
    monkeypatch.setenv("DOCKHAND_URL", "https://api.example.com")

    with pytest.raises(snapshot.CliError, match="DOCKHAND_API_KEY"):
        snapshot.api_target()


def test_port_option_selects_a_run(listeners: list[socket.socket]) -> None:
    from tools.cli import snapshot

    first, second = listening_port(listeners), listening_port(listeners)
    write_run(first)
    write_run(second)
    localstate.selected_port = first

    assert snapshot.api_target() == (f"http://127.0.0.1:{first}", f"dk_k-{first}")


def test_port_option_without_such_a_run_says_which_are_up(
    listeners: list[socket.socket], capsys: pytest.CaptureFixture[str]
) -> None:
    port = listening_port(listeners)
    write_run(port)

    assert cli.main(["--port", "1", "rehydrate", "X"]) == 1

    err = capsys.readouterr().err
    assert "no `make run` on port 1" in err
    assert f"running: port {port}" in err


def test_no_run_and_no_key_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(localstate, "repository_state_dir", lambda: tmp_path / "none")
    assert cli.main(["rehydrate", "X"]) == 1

    err = capsys.readouterr().err
    assert "set DOCKHAND_URL and DOCKHAND_API_KEY, or start `make run`" in err
    assert "DOCKHAND_STATE_DIR" in err


def test_outside_the_repository_folder_the_hint_names_the_running_make_run(
    listeners: list[socket.socket],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    repo_state = tmp_path / "repo" / ".dockhand"
    port = listening_port(listeners)
    monkeypatch.setattr(localstate, "STATE_DIR", repo_state)
    write_run(port)  # the repository's make run
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path / "elsewhere" / ".dockhand")
    monkeypatch.setattr(localstate, "repository_state_dir", lambda: repo_state)
    assert cli.main(["rehydrate", "X"]) == 1

    err = capsys.readouterr().err
    assert f"one is up at http://127.0.0.1:{port}" in err
    assert f"run dockhand from {repo_state.parent}" in err
    assert f"DOCKHAND_STATE_DIR={repo_state}" in err


def test_the_repository_state_dir_is_this_checkout() -> None:
    assert (localstate.repository_state_dir().parent / "tools" / "cli" / "localstate.py").exists()
