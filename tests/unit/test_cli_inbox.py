"""`dockhand inbox consume`: arguments, backoff, and the loop against a fake API
(the real gateway runs it in tests/e2e/test_leases_e2e.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pytest

from tools.cli import inbox as cli_inbox
from tools.cli import leases
from tools.cli.main import build_parser
from tools.cli.snapshot import CliError


def test_backoff_doubles_per_attempt_up_to_an_hour() -> None:
    assert [cli_inbox.backoff(2, n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert cli_inbox.backoff(2, 40) == 3600
    assert cli_inbox.backoff(0, 5) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--lease-seconds", "4"],
        ["--lease-seconds", "3601"],
        ["--lease-seconds", "x"],
        ["--limit", "0"],
        ["--limit", "101"],
        ["--backoff-seconds", "-1"],
    ],
)
def test_bad_arguments_are_refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inbox", "consume", "--exec", "true", *args])
    assert "must be an integer" in capsys.readouterr().err


def test_exec_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inbox", "consume"])


class FakeApi:
    """Two leases of events, then empty; records acks and releases."""

    def __init__(self, leases: list[list[dict[str, Any]]]) -> None:
        self.leases = leases
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.calls.append((path, body))
        if path == "/inbox/lease":
            items = self.leases.pop(0) if self.leases else []
            return {"lease_id": f"L{len(self.calls)}", "expires_at": "x", "items": items}
        if path == "/inbox/ack":
            return {"acknowledged": body["event_ids"], "lease_lost": [], "not_found": []}
        return {"released": body["event_ids"], "not_found": []}


def _event(event_id: str, attempts: int = 1) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "t",
        "payload": {"ok": event_id != "bad"},
        "attempts": attempts,
    }


def _args(command: str) -> argparse.Namespace:
    return build_parser().parse_args(
        ["inbox", "consume", "--exec", command, "--until-empty", "--backoff-seconds", "3"]
    )


def test_acks_on_exit_zero_and_releases_with_backoff_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FakeApi([[_event("good"), _event("bad", attempts=2)]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)
    check = "import json,sys; sys.exit(0 if json.load(sys.stdin)['payload']['ok'] else 1)"
    tally = cli_inbox.consume(_args(f'{sys.executable} -c "{check}"'))
    assert (tally.acknowledged, tally.released) == (1, 1)
    assert ("/inbox/ack", {"lease_id": "L1", "event_ids": ["good"]}) in api.calls
    release = {"lease_id": "L1", "event_ids": ["bad"], "delay_seconds": 6}  # 3 x 2^(2-1)
    assert ("/inbox/release", release) in api.calls


def test_a_stop_releases_what_the_lease_still_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi([[_event("a"), _event("b")]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)

    def interrupted(command: str, item: dict[str, Any]) -> int:
        raise leases.Stop("SIGINT")

    monkeypatch.setattr(cli_inbox, "_run", interrupted)
    with pytest.raises(leases.Stop):
        cli_inbox.consume(_args("true"))
    assert api.calls[-1] == ("/inbox/release", {"lease_id": "L1", "event_ids": ["a", "b"]})


def test_a_named_queue_is_in_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi([[_event("good")]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)
    args = build_parser().parse_args(
        ["inbox", "consume", "--queue", "billing", "--exec", "true", "--until-empty"]
    )
    cli_inbox.consume(args)
    assert [body.get("queue") for _, body in api.calls] == ["billing"] * len(api.calls)
    assert ("/inbox/ack", {"lease_id": "L1", "event_ids": ["good"], "queue": "billing"}) in (
        api.calls
    )


def test_busy_answers_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi([])
    answers = iter([CliError("HTTP 503", 503)])

    def post(path: str, body: dict[str, Any]) -> Any:
        error = next(answers, None)
        if error is not None:
            raise error
        return api.post(path, body)

    monkeypatch.setattr(cli_inbox, "_post", post)
    monkeypatch.setattr(leases.time, "sleep", lambda _: None)
    tally = cli_inbox.consume(_args("true"))
    assert tally.acknowledged == 0
    assert [path for path, _ in api.calls] == ["/inbox/lease"]


def test_the_event_reaches_the_command_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    out = tmp_path / "seen.json"
    api = FakeApi([[_event("good")]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)
    cli_inbox.consume(_args(f"cat > {out}"))
    assert json.loads(out.read_text()) == _event("good")


# The README's consume example (#26): the handler file it creates, verbatim.
README_HANDLER = """\
import json, sys
event = json.load(sys.stdin)   # one leased event, as GET /inbox lists it
print("handled", event["event_type"], event["event_id"], event["payload"])
# exit 0 → acknowledged; an exception (exit 1) → released, retried with a backoff
"""


def test_the_readme_consume_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = tmp_path / "handle.py"
    handler.write_text(README_HANDLER)
    api = FakeApi([[_event("good"), _event("next")]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)
    tally = cli_inbox.consume(_args(f"python3 {handler}"))
    assert (tally.acknowledged, tally.released) == (2, 0)
    out = capfd.readouterr().out
    assert "handled t good {'ok': True}" in out
    assert "handled t next" in out


@pytest.mark.parametrize("command", ["no-such-command-dockhand", "/dev/null"])
def test_a_command_that_cannot_run_stops_the_loop_instead_of_failing_every_event(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi([[_event("a"), _event("b")], [_event("c")]])
    monkeypatch.setattr(cli_inbox, "_post", api.post)
    args = _args(command)
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "the shell says the command" in err
    # Both events of the lease go back at once (no delay, no attempt burnt on a backoff).
    assert api.calls[-1] == ("/inbox/release", {"lease_id": "L1", "event_ids": ["a", "b"]})
    assert [path for path, _ in api.calls].count("/inbox/lease") == 1
