"""Time: one injectable clock and the contract's RFC 3339 format."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

# RFC 3339 date-time (section 5.6): a full date, `T`, a full time with optional
# fraction, and `Z` or a numeric offset. Python's fromisoformat alone takes more
# (no seconds, no offset, week dates, a space for `T`).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")

_now: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep


def now() -> float:
    """Seconds since the epoch; tests replace the source with `set_clock`."""
    return _now()


def set_clock(source: Callable[[], float] | None) -> None:
    """Install a clock (tests); `None` restores the system clock."""
    global _now
    _now = source if source is not None else time.time


def sleep(seconds: float) -> None:
    """Wait; tests replace the sleeper with `set_sleep` (a fake clock then moves on)."""
    _sleep(seconds)


def set_sleep(sleeper: Callable[[float], None] | None) -> None:
    """Install a sleeper (tests); `None` restores time.sleep."""
    global _sleep
    _sleep = sleeper if sleeper is not None else time.sleep


def iso(moment: datetime | float) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z` suffix."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    moment = moment.astimezone(UTC)
    # strftime("%Y") drops the leading zeros of years before 1000 (glibc): "1-01-01".
    return (
        f"{moment.year:04d}-"
        + moment.strftime("%m-%dT%H:%M:%S.")
        + (f"{moment.microsecond // 1000:03d}Z")
    )


def parse_iso(text: str) -> datetime:
    """The one timestamp parser: RFC 3339 with an offset, as a UTC datetime.

    ValueError for anything else, including a date that does not exist and a
    well-formed time that falls outside years 0001-9999 once converted to UTC
    (`0001-01-01T00:00:00+14:00`), which datetime reports as OverflowError."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        raise ValueError("not an RFC 3339 timestamp")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside years 0001-9999 in UTC") from None


def day_of(moment: float) -> str:
    """The UTC day (YYYY-MM-DD) a moment falls on."""
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d")
