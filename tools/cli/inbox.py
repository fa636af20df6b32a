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
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tools.cli import leases
from tools.cli.leases import MAX_DELAY_SECONDS, backoff, bounded
from tools.cli.snapshot import CliError, request


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
    consume.add_argument("--lease-seconds", type=bounded(5, 3600), default=300)
    consume.add_argument("--limit", type=bounded(1, 100), default=10, help="events per lease")
    consume.add_argument(
        "--poll-seconds", type=float, default=2.0, help="wait after an empty lease"
    )
    consume.add_argument(
        "--backoff-seconds",
        type=bounded(0, MAX_DELAY_SECONDS),
        default=2,
        help="release delay after a failure, doubled per attempt (capped at 1 h)",
    )
    consume.add_argument(
        "--until-empty", action="store_true", help="stop when a lease comes back empty"
    )
    consume.set_defaults(func=_consume)


# The shell's own exit codes for a command it could not start (not found, not
# executable): no event can succeed, so the loop stops instead of walking every event
# through its retries to quarantine.
CANNOT_RUN = {126: "is not executable", 127: "was not found"}


class CommandCannotRun(Exception):
    """The --exec command could not be started at all."""


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
    if code in CANNOT_RUN:
        raise CommandCannotRun(
            f"--exec {args.command!r}: the shell says the command {CANNOT_RUN[code]} (exit "
            f"{code}); nothing was acknowledged or released with a delay"
        )
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


def _release_held(queue: str, tally: Tally, lease_id: str) -> None:
    def release(ids: list[str]) -> dict[str, Any]:
        answer: dict[str, Any] = _post(
            "/inbox/release", _in(queue, {"lease_id": lease_id, "event_ids": ids})
        )
        return answer

    tally.released += leases.release_held(release, tally.held, _say, "held events")


def consume(args: argparse.Namespace) -> Tally:
    """The loop; returns what it did.  Raises Stop when a signal asks it to end."""
    tally = Tally()
    body = _in(args.queue, leases.lease_body(args))
    leases.lease_loop(
        lambda: leases.lease_or_wait(lambda: _post("/inbox/lease", body), _say),
        lambda lease_id, item: _settle(args, lease_id, item, tally),
        partial(_release_held, args.queue, tally),
        tally.held,
        poll_seconds=args.poll_seconds,
        until_empty=args.until_empty,
    )
    return tally


def _consume(args: argparse.Namespace) -> int:
    def run() -> str:
        tally = consume(args)
        return (
            f"{args.queue} empty: {tally.acknowledged} acknowledged, {tally.released} "
            f"released, {tally.lost} lost to another consumer"
        )

    return leases.run_until_stopped(run, _say, (CliError, CommandCannotRun))
