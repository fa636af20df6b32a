"""`dockhand agent run --exec CMD [--queue q] [--name n]`: a ready worker.

It registers as an agent (or reuses the identity it saved before), heartbeats on the
agent's interval in a background thread, leases jobs from a queue under its own
signed identity, runs CMD once per job with the event as JSON on standard input,
and acknowledges each job with its outcome: `succeeded` when CMD exits 0, else
`failed`, with `result` {"exit_code", "output": the last lines CMD printed}.  Every
outcome becomes a `job.succeeded` / `job.failed` event in the tenant inbox.
Ctrl-C (SIGINT) or SIGTERM stops it and releases the work it still holds.  Outcome
events land in the tenant inbox, so a worker on `inbox` would take its own outcomes as
new jobs: it runs CMD on them but reports no outcome for them (no endless loop); better,
give workers a queue of their own event types (`dockhand queues create ...`) or
--event-type.

Only registration needs an API key (a creator key: DOCKHAND_API_KEY, or the running
`make run`'s); from then on every call is signed with the agent's secret, kept with
its id in the state file (--state, default ./.dockhand-agent-<name>.json, mode 600).
A saved identity that is refused (the agent was deleted) is reported; delete the file
to register again.  If the name is taken and no file is there, it fails rather than
take over another worker's identity.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cli import leases
from tools.cli.leases import BUSY, bounded
from tools.cli.snapshot import CliError, _describe_error, request

TIMEOUT_SECONDS = 30
OUTPUT_LINES = 20
ACK_ATTEMPTS = 4
MAX_OUTPUT_BYTES = 8 * 1024  # the result must stay under the API's 16 KiB


def register(subparsers: Any) -> None:
    agent = subparsers.add_parser("agent", help="run a worker agent")
    commands = agent.add_subparsers(dest="agent_command", required=True)
    run = commands.add_parser(
        "run",
        help="register, heartbeat, lease jobs from a queue and run a command on each",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--exec", dest="command", required=True, help="shell command; one job on stdin"
    )
    run.add_argument("--queue", default="inbox", help="the queue to take jobs from (inbox)")
    run.add_argument("--name", default=None, help="agent name (default worker-<hostname>)")
    run.add_argument("--state", default=None, help="identity file (./.dockhand-agent-<name>.json)")
    run.add_argument("--event-type", help="only jobs of this event type")
    run.add_argument("--lease-seconds", type=bounded(5, 3600), default=300)
    run.add_argument("--limit", type=bounded(1, 100), default=1, help="jobs per lease")
    run.add_argument("--poll-seconds", type=float, default=2.0, help="wait after an empty lease")
    run.add_argument("--until-empty", action="store_true", help="stop when a lease is empty")
    run.set_defaults(func=_run)


def default_name() -> str:
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")
    return f"worker-{host or 'local'}"[:64]


def _say(message: str) -> None:
    print(f"dockhand agent: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- identity


@dataclass
class Identity:
    agent_id: str
    secret: str
    name: str
    interval: int = 30


def _base_url() -> str:
    from tools.cli import localstate

    url = os.environ.get("DOCKHAND_URL")
    if url:
        return url.rstrip("/")
    return localstate.default_api_url().rstrip("/")


def load_or_register(name: str, state: Path) -> Identity:
    """The saved identity, or a new agent registered with the creator key and saved."""
    if state.exists():
        saved = json.loads(state.read_text())
        _say(f"resuming {saved['agent_id']} from {state}")
        return Identity(
            saved["agent_id"], saved["secret"], saved["name"], int(saved.get("interval", 30))
        )
    try:
        _, _, payload = request("POST", "/agents", {"name": name})
    except CliError as error:
        if error.status == 409:
            raise CliError(
                f"an agent named {name!r} exists and {state} is not here: choose another "
                "--name, or delete that agent (DELETE /agents/{id}) to take the name"
            ) from None
        raise
    made = json.loads(payload)
    identity = Identity(
        made["agent_id"], made["secret"], made["name"], int(made["heartbeat_interval_seconds"])
    )
    kept = {
        "agent_id": identity.agent_id,
        "secret": identity.secret,
        "name": identity.name,
        "interval": identity.interval,
    }
    with open(os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        json.dump(kept, file)
    _say(f"registered {identity.agent_id} (id and secret kept in {state})")
    return identity


# ---------------------------------------------------------------- signed calls


def signed_post(identity: Identity, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /agents/{id}/{action} signed with the agent's secret (a millisecond
    timestamp: heartbeats and work calls run side by side)."""
    path = f"/agents/{identity.agent_id}/{action}"
    data = json.dumps(body).encode()
    stamp = f"{time.time():.3f}"
    message = f"{stamp}\nPOST\n{path}\n{hashlib.sha256(data).hexdigest()}"
    digest = hmac.new(identity.secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": stamp,
        "X-Agent-Signature": f"v1={digest}",
    }
    url = _base_url() + path
    prepared = urllib.request.Request(url, data=data, method="POST", headers=headers)  # noqa: S310 - the user's own API URL
    try:
        with urllib.request.urlopen(prepared, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        raise CliError(_describe_error(error.code, error.read()), error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"cannot reach {url} ({reason})") from None


# ---------------------------------------------------------------- heartbeats


@dataclass
class Worker:
    identity: Identity
    started: float = field(default_factory=time.time)
    completed: int = 0
    held: list[str] = field(default_factory=list)
    refused: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Heartbeats must be newer than the last one: never two in flight at once.
    beating: threading.Lock = field(default_factory=threading.Lock)

    def figures(self) -> dict[str, Any]:
        disk = shutil.disk_usage(".")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        cpus = os.cpu_count() or 1
        return {
            "cpu_percent": round(min(100.0, 100.0 * load / cpus), 1),
            "memory_percent": _memory_percent(),
            "disk_percent": round(100.0 * disk.used / disk.total, 1) if disk.total else 0.0,
            "jobs_queued": len(self.held),
            "jobs_completed": self.completed,
            "uptime_seconds": int(time.time() - self.started),
            "version": "dockhand-agent-run",
        }

    def beat(self) -> None:
        """One heartbeat; it also keeps the leases the agent holds from expiring."""
        with self.beating:
            self._beat()

    def _beat(self) -> None:
        try:
            answer = signed_post(self.identity, "heartbeat", self.figures())
            self.identity.interval = int(answer.get("next_check_interval", self.identity.interval))
        except CliError as error:
            if error.status == 401:
                self.refused.set()
            _say(f"heartbeat failed: {error}")

    def heartbeats(self) -> None:
        while not self.stopping.wait(self.identity.interval):
            self.beat()


def _memory_percent() -> float:
    try:
        info = dict(
            line.split(":", 1)
            for line in Path("/proc/meminfo").read_text().splitlines()
            if ":" in line
        )
        total = int(info["MemTotal"].split()[0])
        available = int(info["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0.0
    return round(100.0 * (total - available) / total, 1) if total else 0.0


# ---------------------------------------------------------------- jobs


def run_job(command: str, item: dict[str, Any]) -> tuple[int, str]:
    """(exit code, its last output lines) of CMD run on one job."""
    env = {
        **os.environ,
        "DOCKHAND_EVENT_ID": str(item["event_id"]),
        "DOCKHAND_EVENT_TYPE": str(item["event_type"]),
        "DOCKHAND_ATTEMPTS": str(item["attempts"]),
    }
    # The user's own command line, run like `sh -c`: pipes and redirections work.
    completed = subprocess.run(  # noqa: S602
        command,
        shell=True,
        input=json.dumps(item).encode(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    text = completed.stdout.decode("utf-8", errors="replace")
    if text:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
    return completed.returncode, last_lines(text)


def last_lines(text: str, lines: int = OUTPUT_LINES, limit: int = MAX_OUTPUT_BYTES) -> str:
    kept = "\n".join(deque(text.rstrip("\n").splitlines(), maxlen=lines))
    encoded = kept.encode()
    if len(encoded) > limit:  # keep the end: that is where failures are told
        kept = encoded[-limit:].decode("utf-8", errors="ignore")
    return kept


def _settle(worker: Worker, args: argparse.Namespace, lease_id: str, item: dict[str, Any]) -> None:
    event_id = str(item["event_id"])
    code, output = run_job(args.command, item)
    outcome = "succeeded" if code == 0 else "failed"
    body: dict[str, Any] = {"lease_id": lease_id, "event_ids": [event_id]}
    if is_outcome_event(item):
        # The outcome of an outcome would be a new job event in the same inbox, taken
        # by a worker again: a loop that never ends.  Acknowledge it plainly.
        outcome = "done (a job outcome event: no outcome reported)"
    else:
        body["outcome"] = outcome
        body["result"] = {"exit_code": code, "output": output}
    if args.queue != "inbox":
        body["queue"] = args.queue
    answer = _ack(worker, body)
    worker.held.remove(event_id)
    worker.completed += 1
    if event_id in answer.get("lease_lost", []):
        _say(f"{event_id}: {outcome}, but its lease had expired and another worker holds it")
    else:
        _say(f"{event_id}: {outcome} (exit {code})")


def _ack(worker: Worker, body: dict[str, Any]) -> dict[str, Any]:
    """The ack, retried when the API is busy (429, 503): a retried ack acknowledges
    again and writes a missing outcome, never a second one."""
    for attempt in range(ACK_ATTEMPTS):
        try:
            return signed_post(worker.identity, "ack", body)
        except CliError as error:
            if error.status not in BUSY or attempt == ACK_ATTEMPTS - 1:
                raise
            _say(f"ack busy ({error}); retrying")
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def is_outcome_event(item: dict[str, Any]) -> bool:
    return item.get("source") == "dockhand.agents" and str(item.get("event_type")).startswith(
        "job."
    )


def _lease(worker: Worker, args: argparse.Namespace) -> dict[str, Any] | None:
    if worker.refused.is_set():
        raise _refused(args)
    body = {"queue": args.queue, **leases.lease_body(args)}
    try:
        return leases.lease_or_wait(lambda: signed_post(worker.identity, "lease", body), _say)
    except CliError as error:
        if error.status != 401:
            raise
        # Marked dead while we were away: a heartbeat recovers it, once.
        worker.beat()
        if worker.refused.is_set():
            raise _refused(args) from None
        return None


def _refused(args: argparse.Namespace) -> CliError:
    return CliError(
        f"the agent's signature is refused (deleted?); delete {_state_path(args)} to register again"
    )


def work(worker: Worker, args: argparse.Namespace) -> None:
    """Lease and settle jobs until stopped (or, with --until-empty, an empty lease)."""
    leases.lease_loop(
        lambda: _lease(worker, args),
        lambda lease_id, item: _settle(worker, args, lease_id, item),
        lambda lease_id: _release_held(worker, args, lease_id),
        worker.held,
        poll_seconds=args.poll_seconds,
        until_empty=args.until_empty,
    )


def _release_held(worker: Worker, args: argparse.Namespace, lease_id: str) -> None:
    def release(ids: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"lease_id": lease_id, "event_ids": ids}
        if args.queue != "inbox":
            body["queue"] = args.queue
        return signed_post(worker.identity, "release", body)

    leases.release_held(release, worker.held, _say, "held jobs")


def _state_path(args: argparse.Namespace) -> Path:
    name = args.name or default_name()
    return Path(args.state or os.environ.get("AGENT_STATE") or f".dockhand-agent-{name}.json")


def _first_beat(name: str, state: Path) -> Worker:
    """The worker, after one heartbeat (at once: a dead agent recovers before it asks for
    work).  A saved identity the server refuses belongs to a run whose data is gone (a
    restarted make run) or to a deleted agent: it is replaced by a new registration."""
    resumed = state.exists()
    worker = Worker(load_or_register(name, state))
    worker.beat()
    if worker.refused.is_set() and resumed:
        _say(
            f"{state} names {worker.identity.agent_id}, which this server refuses (a "
            "restarted make run, or a deleted agent): registering again"
        )
        state.unlink()
        worker = Worker(load_or_register(name, state))
        worker.beat()
    return worker


def _run(args: argparse.Namespace) -> int:
    def run() -> str:
        worker = _first_beat(args.name or default_name(), _state_path(args))
        if worker.refused.is_set():
            raise _refused(args)
        beats = threading.Thread(target=worker.heartbeats, name="heartbeats", daemon=True)
        beats.start()
        try:
            work(worker, args)
        finally:
            worker.stopping.set()
        return f"queue {args.queue} empty: {worker.completed} jobs done"

    return leases.run_until_stopped(run, _say)
