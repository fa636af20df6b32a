"""`dockhand inbox consume --exec CMD`: a consumer loop on leases.

Leases events, pipes each one as JSON to CMD's standard input (one process per
event), acknowledges it when CMD exits 0 and releases it with a backoff when CMD
fails; Ctrl-C (SIGINT) or SIGTERM stops the loop and releases what it still holds.
At-least-once: an event whose acknowledgement did not arrive comes back when its
lease expires, so CMD should be idempotent (dedup on `event_id`).

Talks to `DOCKHAND_URL` with `DOCKHAND_API_KEY`, or to the running `make run` of this directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from tools.cli.snapshot import CliError, request

MAX_DELAY_SECONDS = 3600  # the contract's delay_seconds ceiling
BUSY = (429, 503)  # answered with Retry-After: wait and go on


def register(subparsers: Any) -> None:
    inbox = subparsers.add_parser("inbox", help="consume the tenant inbox or a named queue")
    commands = inbox.add_subparsers(dest="inbox_command", required=True)
    consume = commands.add_parser(
        "consume",
        help="lease events, run a command on each, acknowledge or release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    consume.add_argument(
        "--exec", dest="command", required=True, help="shell command; gets one event on stdin"
    )
    consume.add_argument("--event-type", help="only events of this type")
    consume.add_argument(
        "--queue", default="inbox", help="the queue to consume (default: inbox, the tenant inbox)"
    )
    consume.add_argument("--lease-seconds", type=_bounded(5, 3600), default=300)
    consume.add_argument("--limit", type=_bounded(1, 100), default=10, help="events per lease")
    consume.add_argument(
        "--poll-seconds", type=float, default=2.0, help="wait after an empty lease"
    )
    consume.add_argument(
        "--backoff-seconds",
        type=_bounded(0, MAX_DELAY_SECONDS),
        default=2,
        help="release delay after a failure, doubled per attempt (capped at 1 h)",
    )
    consume.add_argument(
        "--until-empty", action="store_true", help="stop when a lease comes back empty"
    )
    consume.set_defaults(func=_consume)


def _bounded(low: int, high: int) -> Callable[[str], int]:
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


class Stop(Exception):
    """SIGINT or SIGTERM arrived."""


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


@dataclass
class Tally:
    acknowledged: int = 0
    released: int = 0
    lost: int = 0
    held: list[str] = field(default_factory=list)  # of the current lease, not yet settled


def _say(message: str) -> None:
    print(f"dockhand inbox: {message}", file=sys.stderr, flush=True)


def _post(path: str, body: dict[str, Any]) -> Any:
    _, _, payload = request("POST", path, body)
    return json.loads(payload)


def _in(queue: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body for that queue (the tenant inbox is the default: not named)."""
    return body if queue == "inbox" else {**body, "queue": queue}


def _run(command: str, item: dict[str, Any]) -> int:
    env = {
        **os.environ,
        "DOCKHAND_EVENT_ID": str(item["event_id"]),
        "DOCKHAND_EVENT_TYPE": str(item["event_type"]),
        "DOCKHAND_ATTEMPTS": str(item["attempts"]),
    }
    # The user's own command line, run like `sh -c`: pipes and redirections work.
    completed = subprocess.run(  # noqa: S602
        command, shell=True, input=json.dumps(item).encode(), env=env, check=False
    )
    return completed.returncode


def _settle(args: argparse.Namespace, lease_id: str, item: dict[str, Any], tally: Tally) -> None:
    event_id = str(item["event_id"])
    code = _run(args.command, item)
    if code == 0:
        body = _in(args.queue, {"lease_id": lease_id, "event_ids": [event_id]})
        answer = _post("/inbox/ack", body)
        if event_id in answer.get("lease_lost", []):
            tally.lost += 1
            _say(f"{event_id}: done, but its lease had expired and another consumer holds it")
        else:
            tally.acknowledged += 1
            _say(f"{event_id}: acknowledged")
    else:
        delay = backoff(args.backoff_seconds, int(item["attempts"]))
        body = _in(
            args.queue, {"lease_id": lease_id, "event_ids": [event_id], "delay_seconds": delay}
        )
        answer = _post("/inbox/release", body)
        tally.released += len(answer.get("released", []))
        _say(f"{event_id}: command exited {code}; released, back in {delay} s")
    tally.held.remove(event_id)


def _release_held(lease_id: str | None, queue: str, tally: Tally) -> None:
    if lease_id is None or not tally.held:
        return
    try:
        body = _in(queue, {"lease_id": lease_id, "event_ids": list(tally.held)})
        answer = _post("/inbox/release", body)
    except CliError as error:
        _say(f"could not release {len(tally.held)} held events ({error}); their lease expires")
        return
    tally.released += len(answer.get("released", []))
    _say(f"released {len(answer.get('released', []))} events still held")
    tally.held.clear()


def consume(args: argparse.Namespace) -> Tally:
    """The loop; returns what it did.  Raises Stop when a signal asks it to end."""
    tally = Tally()
    lease_id: str | None = None
    body = _in(args.queue, {"limit": args.limit, "lease_seconds": args.lease_seconds})
    if args.event_type:
        body["event_type"] = args.event_type
    try:
        while True:
            try:
                lease = _post("/inbox/lease", body)
            except CliError as error:
                if error.status not in BUSY:
                    raise
                _say(f"busy ({error}); retrying")
                time.sleep(1)
                continue
            lease_id, items = str(lease["lease_id"]), list(lease["items"])
            if not items:
                if args.until_empty:
                    return tally
                time.sleep(args.poll_seconds)
                continue
            tally.held = [str(item["event_id"]) for item in items]
            for item in items:
                _settle(args, lease_id, item, tally)
    finally:
        _release_held(lease_id, args.queue, tally)


def _consume(args: argparse.Namespace) -> int:
    try:
        with stop_on_signals():
            tally = consume(args)
    except Stop as stop:
        _say(f"stopped by {stop}")
        return 0
    except CliError as error:
        print(f"dockhand: {error}", file=sys.stderr)
        return 1
    _say(
        f"{args.queue} empty: {tally.acknowledged} acknowledged, {tally.released} released, "
        f"{tally.lost} lost to another consumer"
    )
    return 0
