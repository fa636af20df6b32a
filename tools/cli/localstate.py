"""The state files `make run` writes so the CLI can reach its emulator.

Each `make run` writes its own `.dockhand/local-<port>.json` (endpoint, fake
credentials, table prefix, master key, API URL, bootstrap key, pid) and removes only
that file when it stops, so two runs on two ports never take over each other's state.

The CLI picks one (`find_state`): the run `DOCKHAND_URL` names, else the one
`dockhand --port N` names, else the only live one; with several live runs it takes the
newest and says so, with how to choose.  Files of runs that are gone (their process is
dead or their port closed) are ignored and deleted.  Without `AWS_ENDPOINT_URL` or
`DOCKHAND_TARGET=aws`, commands that talk to AWS apply the chosen file's environment.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("DOCKHAND_STATE_DIR", Path.cwd() / ".dockhand"))
STATE_GLOB = "local*.json"  # local-<port>.json, and local.json of older versions
PROBE_TIMEOUT_SECONDS = 0.3

# Environment variables the local state provides to processes that talk to the emulator.
STATE_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "DOCKHAND_TABLE_PREFIX",
    "DOCKHAND_MASTER_KEY",
)

# `dockhand --port N` (tools/cli/main.py sets it): which run to use when several are up.
selected_port: int | None = None
# One choice (and one message) per process and question: a command makes many requests.
_chosen: dict[tuple[str, str | None, int | None], LocalRun | None] = {}
_announced: set[Path] = set()


class StateError(Exception):
    """The run the user asked for is not up; the message says what is."""


@dataclass(frozen=True)
class LocalRun:
    """One live `make run`: its state file and what is in it."""

    path: Path
    state: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.state.get("api_url") or "")

    @property
    def port(self) -> int | None:
        return url_port(self.api_url)


def url_port(url: str) -> int | None:
    try:
        return urllib.parse.urlsplit(url).port
    except ValueError:
        return None


def state_path(api_url: str) -> Path:
    """The file of the run serving `api_url`: `.dockhand/local-<port>.json`."""
    return STATE_DIR / f"local-{url_port(api_url)}.json"


# ---------------------------------------------------------------- the gateway's side


def write_state(state: dict[str, Any]) -> Path:
    path = state_path(str(state["api_url"]))
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)  # holds the local master key and bootstrap key
    tmp.replace(path)
    return path


def clear_state(api_url: str, pid: int) -> None:
    """Remove the run's own file, and only when it still belongs to process `pid`."""
    path = state_path(api_url)
    state = _read(path)
    if state is not None and state.get("pid") == pid:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- the CLI's side


def _read(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _port_open(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def repository_state_dir() -> Path:
    """The `.dockhand` of the repository this CLI is installed from (`pip install -e .`,
    as `make run` does): where that repository's `make run` writes its state."""
    return Path(__file__).resolve().parents[2] / ".dockhand"


def live_runs(state_dir: Path | None = None) -> list[LocalRun]:
    """The runs that are up, newest first; files of runs that are gone are deleted."""
    runs = []
    for path in sorted((state_dir or STATE_DIR).glob(STATE_GLOB)):
        state = _read(path)
        if state is None:
            continue
        run = LocalRun(path, state)
        if _pid_alive(state.get("pid")) and _port_open(run.port):
            runs.append(run)
        else:
            path.unlink(missing_ok=True)  # a stale file of a run that is gone
    return sorted(runs, key=lambda r: r.path.stat().st_mtime, reverse=True)


def _same_origin(a: str, b: str) -> bool:
    left, right = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    loopback = {"127.0.0.1", "localhost", "::1"}
    same_host = left.hostname == right.hostname or {left.hostname, right.hostname} <= loopback
    return same_host and left.port == right.port


def _ports(runs: list[LocalRun]) -> str:
    """`port 3000` or `ports 3001, 3000`."""
    return ("port " if len(runs) == 1 else "ports ") + ", ".join(str(r.port) for r in runs)


def forget() -> None:
    """Forget the choices made so far (tests; a long-lived process)."""
    _chosen.clear()
    _announced.clear()


def find_state() -> LocalRun | None:
    """The run to use (see the module docstring), or None when none applies."""
    question = (str(STATE_DIR), os.environ.get("DOCKHAND_URL"), selected_port)
    if question not in _chosen:
        _chosen[question] = _choose()
    return _chosen[question]


def _choose() -> LocalRun | None:
    runs = live_runs()
    url = os.environ.get("DOCKHAND_URL")
    if url:
        return next((r for r in runs if _same_origin(r.api_url, url)), None)
    if selected_port is not None:
        for run in runs:
            if run.port == selected_port:
                return run
        running = f" (running: {_ports(runs)})" if runs else " (none is running)"
        raise StateError(f"no `make run` on port {selected_port}{running}")
    if len(runs) > 1:
        print(
            f"dockhand: {len(runs)} `make run`s are up ({_ports(runs)}); using the "
            f"newest, port {runs[0].port}. Choose with `dockhand --port N ...` or "
            f"DOCKHAND_URL=http://127.0.0.1:N",
            file=sys.stderr,
        )
    return runs[0] if runs else None


def announce(run: LocalRun) -> None:
    """Say which run a command acts on (stderr: stdout stays the command's output)."""
    if run.path in _announced:
        return
    _announced.add(run.path)
    print(f"dockhand: using the `make run` at {run.api_url} ({run.path})", file=sys.stderr)


def read_state() -> dict[str, Any] | None:
    """The chosen run's state, or None."""
    run = find_state()
    return run.state if run else None


def apply_state() -> dict[str, Any] | None:
    """Point this process at the chosen `make run` emulator, unless told otherwise."""
    if os.environ.get("DOCKHAND_TARGET") == "aws" or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    run = find_state()
    if run is None:
        return None
    announce(run)
    for name in STATE_ENV:
        value = run.state.get("env", {}).get(name)
        if value is not None:
            os.environ.setdefault(name, str(value))
    return run.state


def missing_run_hint() -> str:
    """What to do when no key and no `make run` were found from here: a run of the
    repository while the CLI is used from another folder is named, with the two ways
    to reach it."""
    repo_dir = repository_state_dir()
    if repo_dir.resolve() != STATE_DIR.resolve():
        runs = live_runs(repo_dir)
        if runs:
            return (
                f"no `make run` state in {STATE_DIR}, but one is up at {runs[0].api_url}: "
                f"run dockhand from {repo_dir.parent}, or set DOCKHAND_STATE_DIR={repo_dir} "
                "(or DOCKHAND_URL and DOCKHAND_API_KEY)"
            )
    return (
        "set DOCKHAND_URL and DOCKHAND_API_KEY, or start `make run` and use dockhand from "
        f"the repository folder (or set DOCKHAND_STATE_DIR to its .dockhand; looked in {STATE_DIR})"
    )


def default_api_url() -> str:
    run = find_state()
    if run and run.api_url:
        return run.api_url
    return f"http://127.0.0.1:{os.environ.get('PORT', '3000')}"
