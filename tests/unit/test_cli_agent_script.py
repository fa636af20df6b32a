"""The agent script in docs/agents.md, run as written against a stub dockhand: it
registers and keeps its id and secret, resumes from them, resumes a taken name by
rotating the secret, and ends HTTP errors with one line instead of a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def agent_script() -> str:
    text = DOC.read_text(encoding="utf-8")
    after = text.split("`agent.py`:\n\n```python\n", 1)[1]
    return after.split("\n```\n", 1)[0] + "\n"


class Stub(BaseHTTPRequestHandler):
    """POST /agents answers `register`; the rest as dockhand would."""

    register: ClassVar[tuple[int, dict[str, Any]]] = (201, {})
    rotate: ClassVar[tuple[int, dict[str, Any]]] = (200, {"secret": "rotated"})
    heartbeat_status: ClassVar[int] = 200
    seen: ClassVar[list[tuple[str, str]]] = []

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        Stub.seen.append(("GET", self.path))
        agent = {"agent_id": "A1.local", "name": "builder-1", "status": "healthy"}
        self._send(200, {"items": [agent], "next_cursor": None, "has_more": False})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        Stub.seen.append(("POST", self.path))
        if self.path == "/agents":
            self._send(*Stub.register)
        elif self.path.endswith("/rotate-secret"):
            self._send(*Stub.rotate)
        elif Stub.heartbeat_status == 200:
            self._send(200, {"status": "healthy", "next_check_interval": 30})
        else:
            error = {"code": "unauthorized", "message": "Missing or invalid credentials."}
            self._send(Stub.heartbeat_status, {"error": error})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    Stub.register = (201, {"agent_id": "A1.local", "name": "builder-1", "secret": "s1"})
    Stub.rotate = (200, {"secret": "rotated", "previous_valid_until": "2030-01-01T00:00:00.000Z"})
    Stub.heartbeat_status = 200
    Stub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_agent(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    script = workdir / "agent.py"
    script.write_text(agent_script(), encoding="utf-8")
    env = {**os.environ, "DOCKHAND_URL": url, "DOCKHAND_API_KEY": "dk_x_y", "BEATS": "1"}
    env.pop("AGENT_STATE", None)
    return subprocess.run(
        [sys.executable, str(script), "builder-1"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def saved(workdir: Path) -> dict[str, str]:
    state: dict[str, str] = json.loads((workdir / ".dockhand-agent-builder-1.json").read_text())
    return state


def test_registers_keeps_id_and_secret_then_resumes(stub: str, tmp_path: Path) -> None:
    first = run_agent(stub, tmp_path)

    assert first.returncode == 0, first.stderr
    assert saved(tmp_path) == {"agent_id": "A1.local", "secret": "s1", "name": "builder-1"}
    assert (tmp_path / ".dockhand-agent-builder-1.json").stat().st_mode & 0o077 == 0

    Stub.seen = []
    second = run_agent(stub, tmp_path)

    assert second.returncode == 0, second.stderr
    assert "resuming A1.local" in second.stdout
    assert ("POST", "/agents") not in Stub.seen  # no second registration
    assert ("POST", "/agents/A1.local/heartbeat") in Stub.seen


def test_a_taken_name_is_resumed_by_rotating_its_secret(stub: str, tmp_path: Path) -> None:
    Stub.register = (409, {"error": {"code": "conflict", "message": "Name taken."}})

    result = run_agent(stub, tmp_path)

    assert result.returncode == 0, result.stderr
    assert ("POST", "/agents/A1.local/rotate-secret") in Stub.seen
    assert saved(tmp_path)["secret"] == "rotated"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("register", "rotate_status", "message"),
    [
        ((403, {"error": {"code": "forbidden", "message": "This key may not do that."}}), 200,
         "agent: HTTP 403 forbidden: This key may not do that."),
        ((409, {"error": {"code": "conflict", "message": "Name taken."}}), 404,
         "agent: HTTP 404 not_found: Not found."),
    ],
)  # fmt: skip
def test_http_errors_end_with_one_line_and_no_traceback(
    stub: str,
    tmp_path: Path,
    register: tuple[int, dict[str, Any]],
    rotate_status: int,
    message: str,
) -> None:
    Stub.register = register
    Stub.rotate = (rotate_status, {"error": {"code": "not_found", "message": "Not found."}})

    result = run_agent(stub, tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert not (tmp_path / ".dockhand-agent-builder-1.json").exists()


def test_a_refused_heartbeat_says_how_to_register_again(stub: str, tmp_path: Path) -> None:
    Stub.heartbeat_status = 401

    result = run_agent(stub, tmp_path)

    assert result.returncode == 1
    assert "delete .dockhand-agent-builder-1.json to register again" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_api_is_one_line(tmp_path: Path) -> None:
    result = run_agent("http://127.0.0.1:9", tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("agent: cannot reach http://127.0.0.1:9")
    assert "Traceback" not in result.stderr
