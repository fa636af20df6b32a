"""EventBridge schedules as the local gateway runs them (no server needed)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from tools.local import infra_model
from tools.local.scheduler import Cron, Rate, Scheduler, parse_schedule, scheduled_event

T0 = datetime(2026, 11, 23, 0, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rates(expression: str, seconds: int) -> None:
    assert parse_schedule(expression) == Rate(seconds)


def test_daily_cron_fires_at_its_minute() -> None:
    rollup = parse_schedule("cron(5 0 * * ? *)")

    assert rollup.next_after(T0) == datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
    assert rollup.next_after(datetime(2026, 11, 23, 0, 5, tzinfo=UTC)) == datetime(
        2026, 11, 24, 0, 5, tzinfo=UTC
    )


def test_cron_steps_and_lists() -> None:
    cron = parse_schedule("cron(*/15 9,17 ? * * *)")

    assert isinstance(cron, Cron)
    assert cron.minutes == frozenset({0, 15, 30, 45})
    assert cron.hours == frozenset({9, 17})
    assert cron.next_after(T0) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 seconds)",
        "cron(5 0 * * ?)",
        "cron(5 0 1 * ? *)",
        "cron(61 0 * * ? *)",
        "cron(5 24 * * ? *)",
        "at(2026-11-23T00:00:00)",
    ],
)
def test_unsupported_or_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_schedule(expression)


def test_every_terraform_schedule_is_supported() -> None:
    for spec in infra_model.functions().values():
        if spec.schedule:
            parse_schedule(spec.schedule)


def test_scheduled_event_shape() -> None:
    event = scheduled_event("rollup", T0)

    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-11-23T00:04:30Z"
    assert event["resources"] == [
        "arn:aws:events:us-east-1:000000000000:rule/dockhand-rollup-schedule"
    ]
    assert event["detail"] == {}


def test_a_failing_run_is_reported_and_the_scheduler_keeps_going() -> None:
    ran: list[str] = []
    errors: list[tuple[str, str]] = []
    done = threading.Event()

    def run(function: str, event: dict[str, Any]) -> None:
        ran.append(function)
        if function == "rollup":
            raise RuntimeError("rollup broke")
        done.set()

    scheduler = Scheduler(
        {"rollup": parse_schedule("cron(5 0 * * ? *)"), "sweeper": Rate(60)},
        run,
        lambda fn, exc: errors.append((fn, str(exc))),
    )
    scheduler.start(fire_now=("rollup", "sweeper"))
    assert done.wait(5)
    scheduler.stop()

    assert ran == ["rollup", "sweeper"]
    assert errors == [("rollup", "rollup broke")]


def test_due_jobs_fire_on_the_injected_clock() -> None:
    now = [T0]
    fired: list[tuple[str, str]] = []
    done = threading.Event()

    def run(function: str, event: dict[str, Any]) -> None:
        fired.append((function, event["time"]))
        now[0] = datetime(2026, 11, 23, 0, 5, 1, tzinfo=UTC)
        if len(fired) == 2:
            done.set()

    scheduler = Scheduler(
        {"rollup": parse_schedule("cron(5 0 * * ? *)"), "sweeper": Rate(20)},
        run,
        lambda fn, exc: None,
        now=lambda: now[0],
    )
    now[0] = datetime(2026, 11, 23, 0, 5, 0, tzinfo=UTC)  # both are due now
    scheduler.start()
    assert done.wait(5)
    scheduler.stop()

    assert sorted(fired) == [
        ("rollup", "2026-11-23T00:05:00Z"),
        ("sweeper", "2026-11-23T00:04:50Z"),
    ]
