"""The status page in a real browser: Debian's Chromium (`make browser-deps`) driven
by Playwright (never a downloaded browser), against a gateway of its own
(`tests.e2e.conftest.start_gateway`: `make run` with schedules off) so that the sweeps
these tests trigger touch no other test's agents."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PYTHON, REPO, Gateway, start_gateway, stop_gateway

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIGURES = {
    "cpu_percent": 21.5,
    "memory_percent": 48,
    "disk_percent": 63,
    "jobs_queued": 2,
    "jobs_completed": 118,
    "uptime_seconds": 7200,
    "version": "2.3.1",
}


def _unavailable() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium "
            "(needs apt-get as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements-dev.txt; `make install`)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if _unavailable():
        pytest.skip(str(_unavailable()))
    running = start_gateway(tmp_path_factory.mktemp("status-page"))
    yield running
    code = stop_gateway(running)
    assert code == 0, f"gateway exited with {code}:\n{running.log()}"


def signed_heartbeat(gateway: Gateway, agent: dict[str, Any], timestamp: int) -> int:
    """One heartbeat signed as docs/agents.md's script signs it; the status code."""
    body = json.dumps(FIGURES).encode()
    path = f"/agents/{agent['agent_id']}/heartbeat"
    message = f"{timestamp}\nPOST\n{path}\n{hashlib.sha256(body).hexdigest()}"
    digest = hmac.new(agent["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": str(timestamp),
        "X-Agent-Signature": f"v1={digest}",
    }
    return gateway.http("POST", path, headers=headers, data=body).status


def signed_call(gateway: Gateway, agent: dict[str, Any], action: str, body: dict[str, Any]) -> Any:
    """POST /agents/{id}/{action} (lease, ack, release) signed by the agent, in ms."""
    data = json.dumps(body).encode()
    stamp = f"{time.time():.3f}"
    path = f"/agents/{agent['agent_id']}/{action}"
    message = f"{stamp}\nPOST\n{path}\n{hashlib.sha256(data).hexdigest()}"
    digest = hmac.new(agent["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": stamp,
        "X-Agent-Signature": f"v1={digest}",
    }
    return gateway.http("POST", path, headers=headers, data=data)


@dataclass
class HeartbeatingAgent:
    """A registered agent whose thread sends a signed heartbeat every second."""

    gateway: Gateway
    agent: dict[str, Any]
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HeartbeatingAgent:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last = 0
        while not self._stop.is_set():
            now = max(int(time.time()), last + 1)  # each timestamp newer than the last
            self.statuses.append(signed_heartbeat(self.gateway, self.agent, now))
            last = now
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def sweep_at(gateway: Gateway, seconds_ahead: int) -> dict[str, Any]:
    """Run the sweeper once against the gateway's emulator with its clock moved ahead
    (how EventBridge would run it later), like `make invoke FN=sweeper`."""
    script = (
        "import sys, time\n"
        "from common.runtime import clock\n"
        f"clock.set_clock(lambda: time.time() + {seconds_ahead})\n"
        "from tools.local import invoke\n"
        "sys.exit(invoke.main(['sweeper']))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script],
        env=gateway.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def save_screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Into tmp; also docs/status-page.png when DOCKHAND_UPDATE_SCREENSHOT=1."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("DOCKHAND_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, REPO / "docs" / "status-page.png")
    return shot
