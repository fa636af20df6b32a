"""The lease → handle → ack/release loop that `dockhand listen`, `dockhand inbox
consume` and `dockhand agent run` share, and the stop handling around it.

Each command brings its own calls (plain API-key calls or agent-signed ones) and its
own way of settling one item; the loop owns the order: lease, wait on an empty
lease (or stop with --until-empty), settle each item, and on any way out release
what the current lease still holds.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from tools.cli.snapshot import CliError

MAX_DELAY_SECONDS = 3600  # the contract's delay_seconds ceiling
BUSY = (429, 503)  # answered with Retry-After: wait and go on

Say = Callable[[str], None]


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from low to high."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}")
        return int(text)

    return parse


def backoff(base: int, attempts: int) -> int:
    """Seconds before a failed event comes back: base, 2 x base, 4 x base, ... ≤ 1 h."""
    if base == 0:
        return 0
    return int(min(MAX_DELAY_SECONDS, base * 2 ** max(0, attempts - 1)))


@contextmanager
def stop_on_signals() -> Iterator[None]:
    def stop(signum: int, _: FrameType | None) -> None:
        raise Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_until_stopped(
    run: Callable[[], str],
    say: Say,
    errors: tuple[type[Exception], ...] = (CliError,),
) -> int:
    """The exit code of a command's loop: 0 when `run` ends (its summary said) or a
    signal stops it, 1 (the error said) when one of `errors` ends it."""
    try:
        with stop_on_signals():
            summary = run()
    except Stop as stop:
        say(f"stopped by {stop}")
        return 0
    except errors as error:
        print(f"dockhand: {error}", file=sys.stderr)
        return 1
    say(summary)
    return 0


def lease_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /inbox/lease body the loop's options ask for (--limit, --lease-seconds,
    --event-type)."""
    body: dict[str, Any] = {"limit": args.limit, "lease_seconds": args.lease_seconds}
    if args.event_type:
        body["event_type"] = args.event_type
    return body


def lease_or_wait(lease: Callable[[], dict[str, Any]], say: Say | None) -> dict[str, Any] | None:
    """The lease, or None after a second's wait when the API is busy (429, 503)."""
    try:
        return lease()
    except CliError as error:
        if error.status not in BUSY:
            raise
        if say is not None:
            say(f"busy ({error}); retrying")
        time.sleep(1)
        return None


def lease_loop(
    lease: Callable[[], dict[str, Any] | None],
    settle: Callable[[str, dict[str, Any]], None],
    release: Callable[[str], None],
    held: list[str],
    *,
    poll_seconds: float,
    until_empty: bool,
) -> None:
    """Lease and settle until stopped (or, with `until_empty`, an empty lease).

    `lease` answers None to be called again at once; `settle` removes from `held` the
    id it settled; `release(lease_id)` is called on the way out while `held` names ids
    of the current lease."""
    lease_id: str | None = None
    try:
        while True:
            answer = lease()
            if answer is None:
                continue
            lease_id, items = str(answer["lease_id"]), list(answer["items"])
            if not items:
                if until_empty:
                    return
                time.sleep(poll_seconds)
                continue
            held[:] = [str(item["event_id"]) for item in items]
            for item in items:
                settle(lease_id, item)
    finally:
        if lease_id is not None and held:
            release(lease_id)


def release_held(
    release: Callable[[list[str]], dict[str, Any]],
    held: list[str],
    say: Say,
    what: str,
    *,
    report: bool = True,
) -> int:
    """Release the ids still `held` (the number released); a failure is said, not
    raised: the lease expires anyway."""
    try:
        answer = release(list(held))
    except CliError as error:
        say(f"could not release {len(held)} {what} ({error}); their lease expires")
        return 0
    released = len(answer.get("released", []))
    if report:
        say(f"released {released} {what.removeprefix('held ')} still held")
    held.clear()
    return released
