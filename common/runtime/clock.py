"""Time: one injectable clock and the contract's RFC 3339 format."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch; tests replace the source with `set_clock`."""
    return _now()


def set_clock(source: Callable[[], float] | None) -> None:
    """Install a clock (tests); `None` restores the system clock."""
    global _now
    _now = source if source is not None else time.time


def iso(moment: datetime | float) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z` suffix."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; naive times are refused."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone offset")
    return value.astimezone(UTC)


def day_of(moment: float) -> str:
    """The UTC day (YYYY-MM-DD) a moment falls on."""
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d")
