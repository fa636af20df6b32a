"""`dockhand listen --forward http://localhost:PORT/path [--event-type T]`: push
delivery for a developer without a public URL (like `stripe listen`, without a tunnel).

Leases events from the tenant's inbox (POST /inbox/lease) and forwards each one to
the local URL signed exactly like a real delivery: the same body
(`{"type", "timestamp", "data"}`), the same Standard Webhooks headers, the same
sender (common.triggers.outbound).  Sign with the secret the receiver verifies
with: `--secret whsec_...` (or DOCKHAND_LISTEN_SECRET), e.g. the secret of the
subscription the receiver was written for; without one, a new secret is made for
this run and printed at start, and a receiver that refuses the forward is told apart
from one that is not running (the advice names --secret).  A 2xx acknowledges the
event; anything else releases it with a backoff, so it comes back.  Ctrl-C releases
what is still held.

Talks to `DOCKHAND_URL` with `DOCKHAND_API_KEY` (or the running `make run`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from common.triggers import outbound, ssrf, webhooks
from tools.cli import leases
from tools.cli.leases import backoff, bounded
from tools.cli.snapshot import request


def register(subparsers: Any) -> None:
    listen = subparsers.add_parser(
        "listen",
        help="forward inbox events to a local URL, signed like push deliveries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen.add_argument(
        "--forward", required=True, type=local_url, help="http://localhost:PORT/path"
    )
    listen.add_argument("--event-type", help="only events of this type")
    listen.add_argument(
        "--secret",
        default=os.environ.get("DOCKHAND_LISTEN_SECRET"),
        type=_secret,
        help="whsec_ secret to sign with (default: a new one, printed at start)",
    )
    listen.add_argument("--lease-seconds", type=bounded(5, 3600), default=60)
    listen.add_argument("--limit", type=bounded(1, 100), default=10, help="events per lease")
    listen.add_argument("--poll-seconds", type=float, default=1.0, help="wait after an empty lease")
    listen.add_argument(
        "--backoff-seconds",
        type=bounded(0, 3600),
        default=2,
        help="release delay after a failed forward, doubled per attempt (capped at 1 h)",
    )
    listen.add_argument(
        "--until-empty", action="store_true", help="stop when a lease comes back empty"
    )
    listen.set_defaults(func=_listen)


FORWARD_RULE = (
    "must be a URL on this machine: http://localhost:PORT/path or "
    "http://127.0.0.1:PORT/path (https:// too)"
)


def local_url(text: str) -> str:
    """Only the developer's own machine: http(s)://localhost or 127.0.0.1 (one message
    for every refusal, saying what is accepted)."""
    try:
        parsed = ssrf.parse_url(text, allow_loopback=True, reserved_ports=())
    except ssrf.Refused:
        raise argparse.ArgumentTypeError(FORWARD_RULE) from None
    if parsed.host not in ssrf.LOOPBACK_HOSTS:
        raise argparse.ArgumentTypeError(FORWARD_RULE)
    return text


def make_run_ports() -> frozenset[int]:
    """The ports of every `make run` up on this machine: its gateway and its emulator
    (never a receiver: the emulator's control API resets every table)."""
    from tools.cli import localstate

    ports: set[int] = set()
    dirs = {localstate.STATE_DIR.resolve(), localstate.repository_state_dir().resolve()}
    for run in [run for state_dir in dirs for run in localstate.live_runs(state_dir)]:
        endpoint = str(run.state.get("env", {}).get("AWS_ENDPOINT_URL") or "")
        for url in (run.api_url, endpoint):
            port = localstate.url_port(url)
            if port is not None:
                ports.add(port)
    return frozenset(ports)


def check_forward(url: str, reserved: frozenset[int]) -> str | None:
    """Why `url` may not be forwarded to (a `make run`'s own port), or None."""
    try:
        ssrf.parse_url(url, allow_loopback=True, reserved_ports=reserved)
    except ssrf.Refused as refused:
        return f"--forward {refused}"
    return None


def _secret(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        webhooks.parse_secret(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


@dataclass
class Forwarder:
    """Signs and sends one event the way the deliver function does."""

    url: str
    secret: str
    secret_given: bool = True
    reserved_ports: frozenset[int] = frozenset()
    listen_id: str = field(default_factory=lambda: "listen_" + secrets.token_hex(8))

    def event_of(self, item: dict[str, Any]) -> dict[str, Any]:
        """The GET /events/{id} body of a leased (so pending) event."""
        return {
            "event_id": item["event_id"],
            "event_type": item["event_type"],
            "payload": item["payload"],
            "source": item.get("source"),
            "occurred_at": item.get("occurred_at"),
            "received_at": item["received_at"],
            "status": "pending",
            "delivered_at": None,
        }

    def forward(self, item: dict[str, Any]) -> outbound.Result:
        body = webhooks.delivery_body(self.event_of(item))
        timestamp = int(time.time())
        msg_id = webhooks.message_id(self.listen_id, str(item["event_id"]))
        headers = webhooks.headers([webhooks.parse_secret(self.secret)], msg_id, timestamp, body)
        return outbound.deliver(
            self.url, body, headers, allow_loopback=True, reserved_ports=self.reserved_ports
        )

    def explain(self, result: outbound.Result) -> str:
        """The failure in words that say what to do; a receiver that is up but refuses
        or drops the forward most often failed to verify the signature."""
        refused = result.outcome == "http_status" and result.status_code in {400, 401, 403}
        dropped = result.outcome == "connect_error" and _listening(self.url)
        if not (refused or dropped):
            if result.outcome == "connect_error":
                return f"nothing answers at {self.url} (connect_error): is the receiver running?"
            return str(result.error)
        what = f"HTTP {result.status_code}" if refused else "closed the connection unanswered"
        advice = (
            "pass the secret it verifies with: --secret whsec_... (this run signs with a new "
            "secret, printed at start)"
            if not self.secret_given
            else "check that --secret is the secret it verifies with"
        )
        return f"the receiver {what}: a signature problem? {advice}"


def _listening(url: str) -> bool:
    """True when something accepts TCP connections at `url`'s port."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Tally:
    forwarded: int = 0
    failed: int = 0
    held: list[str] = field(default_factory=list)


def _say(message: str) -> None:
    print(f"dockhand listen: {message}", file=sys.stderr, flush=True)


def _post(path: str, body: dict[str, Any]) -> Any:
    _, _, payload = request("POST", path, body)
    return json.loads(payload)


def _settle(
    args: argparse.Namespace,
    forwarder: Forwarder,
    lease_id: str,
    item: dict[str, Any],
    tally: Tally,
) -> None:
    event_id = str(item["event_id"])
    result = forwarder.forward(item)
    if result.ok:
        _post("/inbox/ack", {"lease_id": lease_id, "event_ids": [event_id]})
        tally.forwarded += 1
        took = f"{result.status_code} ({result.duration_ms} ms)"
        _say(f"{event_id} {item['event_type']} -> {took}, acknowledged")
    else:
        delay = backoff(args.backoff_seconds, int(item.get("attempts") or 1))
        _post(
            "/inbox/release",
            {"lease_id": lease_id, "event_ids": [event_id], "delay_seconds": delay},
        )
        tally.failed += 1
        why = forwarder.explain(result)
        _say(f"{event_id} {item['event_type']} -> {why}; released, back in {delay} s")
    tally.held.remove(event_id)


def listen(args: argparse.Namespace, forwarder: Forwarder) -> Tally:
    tally = Tally()
    body = leases.lease_body(args)

    def release(lease_id: str) -> None:
        def call(ids: list[str]) -> dict[str, Any]:
            answer: dict[str, Any] = _post(
                "/inbox/release", {"lease_id": lease_id, "event_ids": ids}
            )
            return answer

        leases.release_held(call, tally.held, _say, "events", report=False)

    leases.lease_loop(
        lambda: leases.lease_or_wait(lambda: _post("/inbox/lease", body), None),
        lambda lease_id, item: _settle(args, forwarder, lease_id, item, tally),
        release,
        tally.held,
        poll_seconds=args.poll_seconds,
        until_empty=args.until_empty,
    )
    return tally


def _listen(args: argparse.Namespace) -> int:
    reserved = make_run_ports()
    refusal = check_forward(args.forward, reserved)
    if refusal:
        print(f"dockhand: {refusal}", file=sys.stderr)
        return 2
    secret = args.secret or webhooks.format_secret(secrets.token_bytes(webhooks.KEY_BYTES))
    forwarder = Forwarder(args.forward, secret, bool(args.secret), reserved)
    print(f"Forwarding inbox events to {args.forward}", flush=True)
    if args.secret:
        print("Signing with the secret given (--secret / DOCKHAND_LISTEN_SECRET)", flush=True)
    else:
        print(f"Signing secret (Standard Webhooks): {secret}", flush=True)
        print("  (new for this run: a receiver that verifies with another secret, e.g. a")
        print("  subscription's, needs it passed with --secret)", flush=True)

    def run() -> str:
        tally = listen(args, forwarder)
        return f"inbox empty: {tally.forwarded} forwarded, {tally.failed} failed and released"

    return leases.run_until_stopped(run, _say)
