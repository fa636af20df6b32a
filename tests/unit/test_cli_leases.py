"""tools/cli/leases.py, the loop `dockhand listen`, `inbox consume` and `agent run`
share: exit codes and messages on a signal or an error, the busy wait, and what is
released on the way out."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tools.cli import leases
from tools.cli.snapshot import CliError


def test_a_run_that_ends_says_its_summary_and_exits_0() -> None:
    said: list[str] = []
    assert leases.run_until_stopped(lambda: "queue empty: 3 done", said.append) == 0
    assert said == ["queue empty: 3 done"]


def test_sigterm_stops_the_run_with_exit_0_and_restores_the_handler() -> None:
    said: list[str] = []
    before = signal.getsignal(signal.SIGTERM)

    def run() -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler long before
        return "never"

    started = time.monotonic()
    assert leases.run_until_stopped(run, said.append) == 0
    assert time.monotonic() - started < 4
    assert said == ["stopped by SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_api_error_exits_1_with_the_error_said(capsys: pytest.CaptureFixture[str]) -> None:
    def run() -> str:
        raise CliError("HTTP 401: invalid key", 401)

    said: list[str] = []
    assert leases.run_until_stopped(run, said.append) == 1
    assert said == []
    assert capsys.readouterr().err == "dockhand: HTTP 401: invalid key\n"


def test_an_unexpected_error_is_not_swallowed() -> None:
    def run() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        leases.run_until_stopped(run, lambda _: None)


def test_a_busy_api_is_waited_for_and_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(leases.time, "sleep", slept.append)
    said: list[str] = []

    def answering(status: int) -> Any:
        def lease() -> dict[str, Any]:
            raise CliError(f"HTTP {status}", status)

        return lease

    assert leases.lease_or_wait(answering(503), said.append) is None
    assert slept == [1]
    assert said == ["busy (HTTP 503); retrying"]
    with pytest.raises(CliError):  # anything else is the caller's to handle
        leases.lease_or_wait(answering(400), None)


def test_an_error_mid_lease_releases_what_is_still_held() -> None:
    answers = iter([{"lease_id": "L1", "items": [{"event_id": "a"}, {"event_id": "b"}]}])
    held: list[str] = []
    released: list[tuple[str, list[str]]] = []

    def settle(lease_id: str, item: dict[str, Any]) -> None:
        if item["event_id"] == "b":
            raise CliError("HTTP 500", 500)
        held.remove(item["event_id"])

    with pytest.raises(CliError):
        leases.lease_loop(
            lambda: next(answers),
            settle,
            lambda lease_id: released.append((lease_id, list(held))),
            held,
            poll_seconds=0,
            until_empty=True,
        )
    assert released == [("L1", ["b"])]


def test_an_empty_lease_ends_an_until_empty_run_without_a_release() -> None:
    released: list[str] = []
    leases.lease_loop(
        lambda: {"lease_id": "L1", "items": []},
        lambda lease_id, item: None,
        released.append,
        [],
        poll_seconds=0,
        until_empty=True,
    )
    assert released == []


def test_release_held_says_what_it_released_or_why_not() -> None:
    said: list[str] = []
    held = ["a", "b"]
    got = leases.release_held(lambda ids: {"released": ids}, held, said.append, "held jobs")
    assert (got, held, said) == (2, [], ["released 2 jobs still held"])

    def refused(ids: list[str]) -> dict[str, Any]:
        raise CliError("HTTP 503", 503)

    held, said = ["c"], []
    assert leases.release_held(refused, held, said.append, "events", report=False) == 0
    assert said == ["could not release 1 events (HTTP 503); their lease expires"]
    assert held == ["c"]
