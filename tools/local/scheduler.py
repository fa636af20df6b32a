"""EventBridge schedules, locally: parse `rate(...)` / `cron(...)`, build the
"Scheduled Event" a rule sends, and fire functions on time from a thread.

Only the expressions dockhand uses are supported: `rate(N minute|minutes|hour|hours|day|days)`
and `cron(M H * * ? *)` where minute and hour may be `*`, `*/n`, a number or a
comma list; the day, month, weekday and year fields must be `*` or `?`.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.+)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}
ACCOUNT = "000000000000"
REGION = "us-east-1"


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]

    def next_after(self, moment: datetime) -> datetime:
        """The first whole minute strictly after `moment` that matches."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(2 * 24 * 60):  # both fields repeat daily: two days always suffice
            if candidate.minute in self.minutes and candidate.hour in self.hours:
                return candidate
            candidate += timedelta(minutes=1)
        raise ValueError("cron expression never matches")  # pragma: no cover - fields non-empty


Schedule = Rate | Cron


def parse_schedule(expression: str) -> Schedule:
    """A `Rate` or `Cron` for an EventBridge schedule expression; ValueError if unsupported."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ValueError(f"rate must be at least 1: {expression!r}")
        if (count == 1) != (not rate.group(2).endswith("s")):
            raise ValueError(f"EventBridge wants '1 {unit}' and 'N {unit}s': {expression!r}")
        return Rate(count * _UNIT_SECONDS[unit])
    cron = _CRON.fullmatch(text)
    if cron:
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields: {expression!r}")
        minute, hour, *rest = fields
        if any(f not in {"*", "?"} for f in rest):
            raise ValueError(f"only minute and hour may be restricted locally: {expression!r}")
        return Cron(_cron_field(minute, 60, expression), _cron_field(hour, 24, expression))
    raise ValueError(f"unsupported schedule expression: {expression!r}")


def _cron_field(field: str, size: int, expression: str) -> frozenset[int]:
    if field == "*":
        return frozenset(range(size))
    if field.startswith("*/") and field[2:].isdigit() and int(field[2:]) > 0:
        return frozenset(range(0, size, int(field[2:])))
    values = set()
    for part in field.split(","):
        if not part.isdigit() or not 0 <= int(part) < size:
            raise ValueError(f"bad cron field {field!r} in {expression!r}")
        values.add(int(part))
    return frozenset(values)


def rule_name(function: str) -> str:
    return f"dockhand-{function}-schedule"


def scheduled_event(function: str, when: datetime) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends to its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name(function)}"],
        "detail": {},
    }


Runner = Callable[[str, dict[str, Any]], None]


class Scheduler:
    """Fires `runner(function, event)` on each function's schedule, from one thread.

    Runs are sequential (a slow sweeper delays the rollup, never overlaps itself),
    which is what one reserved-concurrency-1 target would see in AWS.  The runner
    must not raise; `Scheduler` still guards against it so the thread survives.
    """

    def __init__(
        self,
        schedules: dict[str, Schedule],
        runner: Runner,
        on_error: Callable[[str, BaseException], None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._schedules = schedules
        self._runner = runner
        self._on_error = on_error
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        start = now()
        self._due = {name: s.next_after(start) for name, s in schedules.items()}

    def start(self, fire_now: tuple[str, ...] = ()) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(fire_now,), name="dockhand-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _fire(self, function: str, when: datetime) -> None:
        try:
            self._runner(function, scheduled_event(function, when))
        except Exception as exc:  # a failed run is logged; the schedule goes on
            self._on_error(function, exc)

    def _loop(self, fire_now: tuple[str, ...]) -> None:
        for function in fire_now:
            if self._stop.is_set():
                return
            self._fire(function, self._now())
        while self._due and not self._stop.is_set():
            function, due = min(self._due.items(), key=lambda item: item[1])
            wait = (due - self._now()).total_seconds()
            if wait > 0:
                # Wake at least every 5 s so a changed wall clock is noticed.
                self._stop.wait(min(wait, 5.0))
                continue
            self._fire(function, due)
            self._due[function] = self._schedules[function].next_after(max(due, self._now()))
