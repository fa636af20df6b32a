"""`dockhand agent run`'s pieces: the output it reports, the loop guard, its identity."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tools.cli import agent
from tools.cli.main import build_parser
from tools.cli.snapshot import CliError


def test_last_lines_keep_the_end_within_bounds() -> None:
    text = "".join(f"line {n}\n" for n in range(100))
    assert agent.last_lines(text).splitlines() == [f"line {n}" for n in range(80, 100)]
    long = "x" * 20_000 + "\nthe end"
    kept = agent.last_lines(long)
    assert len(kept.encode()) <= agent.MAX_OUTPUT_BYTES
    assert kept.endswith("the end")
    assert agent.last_lines("") == ""


def test_outcome_events_are_not_reported_again() -> None:
    assert agent.is_outcome_event({"source": "dockhand.agents", "event_type": "job.failed"})
    assert not agent.is_outcome_event({"source": "dockhand.agents", "event_type": "agent.dead"})
    assert not agent.is_outcome_event({"source": "ci", "event_type": "job.succeeded"})


def test_run_job_passes_the_event_and_reports_exit_code_and_output() -> None:
    item = {"event_id": "E1", "event_type": "build", "attempts": 2, "payload": {"n": 7}}
    script = (
        "import json, os, sys; e = json.load(sys.stdin); "
        "print(e['payload']['n'], os.environ['DOCKHAND_ATTEMPTS']); sys.exit(3)"
    )
    command = f'python3 -c "{script}"'
    code, output = agent.run_job(command, item)
    assert code == 3
    assert output == "7 2"


def test_saved_identity_is_reused_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "id.json"
    state.write_text(json.dumps({"agent_id": "A.t", "secret": "s", "name": "w", "interval": 10}))
    monkeypatch.delenv("DOCKHAND_API_KEY", raising=False)
    identity = agent.load_or_register("w", state)
    assert (identity.agent_id, identity.secret, identity.interval) == ("A.t", "s", 10)


def test_registration_saves_the_identity_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {"agent_id": "A.t", "secret": "s3", "name": "w", "heartbeat_interval_seconds": 30}
    monkeypatch.setattr(agent, "request", lambda *_: (201, "", json.dumps(made).encode()))
    state = tmp_path / "id.json"
    identity = agent.load_or_register("w", state)
    assert identity.secret == "s3"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert json.loads(state.read_text())["agent_id"] == "A.t"


def test_a_taken_name_without_state_is_not_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def conflict(*_: object) -> None:
        raise CliError("HTTP 409 conflict", 409)

    monkeypatch.setattr(agent, "request", conflict)
    with pytest.raises(CliError, match="choose another --name"):
        agent.load_or_register("w", tmp_path / "id.json")


def test_the_command_line() -> None:
    args = build_parser().parse_args(
        ["agent", "run", "--exec", "true", "--queue", "builds", "--name", "b-1"]
    )
    assert (args.command, args.queue, args.name, args.limit) == ("true", "builds", "b-1", 1)
    assert agent.default_name().startswith("worker-")


def test_a_saved_identity_the_server_refuses_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "id.json"
    state.write_text(json.dumps({"agent_id": "OLD.t", "secret": "s", "name": "w"}))
    made = {"agent_id": "NEW.t", "secret": "s2", "name": "w", "heartbeat_interval_seconds": 30}
    monkeypatch.setattr(agent, "request", lambda *_: (201, "", json.dumps(made).encode()))

    def beat(worker: agent.Worker) -> None:  # the old run's agent is unknown here
        if worker.identity.agent_id == "OLD.t":
            worker.refused.set()

    monkeypatch.setattr(agent.Worker, "beat", beat)
    worker = agent._first_beat("w", state)
    assert (worker.identity.agent_id, worker.refused.is_set()) == ("NEW.t", False)
    assert json.loads(state.read_text())["agent_id"] == "NEW.t"


def test_a_new_identity_the_server_refuses_is_not_replaced_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {"agent_id": "NEW.t", "secret": "s2", "name": "w", "heartbeat_interval_seconds": 30}
    calls: list[object] = []

    def register(*args: object) -> tuple[int, str, bytes]:
        calls.append(args)
        return 201, "", json.dumps(made).encode()

    monkeypatch.setattr(agent, "request", register)
    monkeypatch.setattr(agent.Worker, "beat", lambda worker: worker.refused.set())
    worker = agent._first_beat("w", tmp_path / "id.json")
    assert worker.refused.is_set()
    assert len(calls) == 1
