"""The local gateway (`python -m tools.local.gateway`, what `make run` starts) as a fixture.

One gateway per test session, on a free port, with its state file in a temp dir
and schedules off.  Talk to it over real HTTP with `gateway.http(...)` (stdlib
urllib only) and run the CLI against its emulator with `gateway.cli(...)`.

    @pytest.mark.e2e
    def test_something(gateway):
        status, headers, body = gateway.http("GET", "/status")
        viewer = gateway.create_key("acme", "viewer")
"""

from __future__ import annotations

import json as jsonlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
# The console script `make install` puts in the venv, as a user runs it.
DOCKHAND_CLI = (
    [str(VENV_BIN / "dockhand")]
    if (VENV_BIN / "dockhand").exists()
    else [PYTHON, "-m", "tools.cli.main"]
)
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 15


class HttpResult(NamedTuple):
    status: int
    headers: dict[str, str]  # names lower-cased
    body: str

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json["error"]["code"])


def http(
    base_url: str,
    method: str,
    path: str,
    *,
    key: str | None = None,
    json: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> HttpResult:
    """One HTTP request with urllib; never raises on 4xx/5xx."""
    all_headers = dict(headers or {})
    if key is not None:
        all_headers.setdefault("Authorization", f"Bearer {key}")
    if json is not None:
        data = jsonlib.dumps(json).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(  # noqa: S310 - base_url is the test's own http URL
        base_url + path, data=data, method=method, headers=all_headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _result(response.status, response.headers.items(), response.read())
    except urllib.error.HTTPError as error:
        return _result(error.code, error.headers.items(), error.read())


def _result(status: int, headers: Any, body: bytes) -> HttpResult:
    return HttpResult(status, {k.lower(): v for k, v in headers}, body.decode("utf-8"))


@dataclass
class Gateway:
    url: str
    key: str  # creator key of tenant "local" (the bootstrap key)
    state_dir: Path
    env: dict[str, str]  # for subprocesses: points at the gateway's emulator and API
    process: subprocess.Popen[bytes]
    log_path: Path

    def http(
        self,
        method: str,
        path: str,
        key: str | None = None,
        json: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> HttpResult:
        return http(self.url, method, path, key=key, json=json, headers=headers, data=data)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `dockhand <args>` against this gateway's emulator."""
        completed = subprocess.run(
            [*DOCKHAND_CLI, *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and completed.returncode != 0:
            raise AssertionError(f"dockhand {' '.join(args)} failed:\n{completed.stderr}")
        return completed

    def create_key(self, tenant: str, role: str, label: str = "") -> str:
        """A new API key made with `dockhand keys create` (the full key)."""
        args = ["keys", "create", "--tenant", tenant, "--role", role, "--json"]
        if label:
            args += ["--label", label]
        return str(jsonlib.loads(self.cli(*args).stdout)["api_key"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(port: int, state_dir: Path) -> dict[str, str]:
    """A clean environment: no AWS_* or DOCKHAND_* leaking in from the test process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "PYTEST"))}
    env.update(
        PORT=str(port),
        DOCKHAND_STATE_DIR=str(state_dir),
        DOCKHAND_SCHEDULES="off",
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited early:\n{log_path.read_text()}")
        try:
            if http(url, "GET", "/status", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(
        f"gateway not serving after {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}"
    )


def start_gateway(state_dir: Path, extra_env: Mapping[str, str] | None = None) -> Gateway:
    port = free_port()
    env = {**gateway_env(port, state_dir), **(extra_env or {})}
    log_path = state_dir / "gateway.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [PYTHON, "-m", "tools.local.gateway"],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, log_path)
    state = jsonlib.loads((state_dir / f"local-{port}.json").read_text())
    cli_env = {
        **env,
        **state["env"],
        "DOCKHAND_URL": url,
        "DOCKHAND_API_KEY": state["bootstrap_key"],
    }
    return Gateway(url, state["bootstrap_key"], state_dir, cli_env, process, log_path)


def stop_gateway(gateway: Gateway) -> int:
    """Ctrl-C, as a user would; the exit code (the gateway must exit 0)."""
    if gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGINT)
    try:
        return gateway.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()
        raise


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield running
    code = stop_gateway(running)
    assert code == 0, f"gateway exited with {code}:\n{running.log()}"
