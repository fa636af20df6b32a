"""`make load`: a bounded load run against a local gateway this command starts itself.

N clients (threads, one keep-alive connection each) send a mix of POST /events,
GET /inbox, POST /inbox/ack and GET /events/{id} to 127.0.0.1 for a fixed time or
request budget, whichever ends first; then the gateway is stopped and the figures
(requests, errors by status, latency p50/p95/p99 overall and per route) go to
docs/load.json.

What the figures mean: the local gateway runs every handler in ONE Python process
next to the in-process moto server (one GIL, one emulator), so this is a floor for
a single container, not Lambda's scale-out.  Traffic goes to loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "docs" / "load.json"
LOOPBACK = "127.0.0.1"
# (route, weight): writes and reads roughly as a trigger consumer sees them.
MIX = (
    ("POST /events", 40),
    ("GET /inbox", 30),
    ("POST /inbox/ack", 15),
    ("GET /events/{event_id}", 15),
)


@dataclass
class Tally:
    """One client's results; merged at the end (no lock on the hot path)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0


@dataclass
class Budget:
    deadline: float
    max_requests: int
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            if self.sent >= self.max_requests or time.monotonic() >= self.deadline:
                return False
            self.sent += 1
            return True


# --------------------------------------------------------------------------- gateway


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_gateway(state_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The gateway on a free loopback port; returns the process and its bootstrap key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_"))}
    env.update(
        PORT=str(port),
        DOCKHAND_STATE_DIR=str(state_dir),
        DOCKHAND_SCHEDULES="off",
        # One key drives all clients: the per-key limit (600/min) would turn the run
        # into a 429 benchmark.  The limiter still runs (one lease update per 20).
        DOCKHAND_RATE_LIMIT_REQUESTS="1000000",
        PYTHONUNBUFFERED="1",
    )
    log = (state_dir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.local.gateway"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((state_dir / "gateway.log").read_text())
        try:
            status, _ = request(
                http.client.HTTPConnection(LOOPBACK, port, timeout=2), "GET", "/status"
            )
            if status == 200:
                state = json.loads((state_dir / f"local-{port}.json").read_text())
                return process, str(state["bootstrap_key"])
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gateway did not start in 60 s")


def stop_gateway(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --------------------------------------------------------------------------- clients


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def client_loop(port: int, key: str, budget: Budget, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
    routes = [route for route, _ in MIX]
    weights = [weight for _, weight in MIX]
    mine: list[str] = []  # ids this client created: targets for GET and ack
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    counter = 0
    while budget.take():
        route = rng.choices(routes, weights)[0]
        if route != "POST /events" and not mine:
            route = "POST /events"
        counter += 1
        started = time.perf_counter()
        try:
            status, raw = _send(
                conn, route, key=key, mine=mine, rng=rng, seed=seed, counter=counter
            )
        except (OSError, http.client.HTTPException):
            tally.transport_errors += 1
            conn.close()
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            continue
        tally.latencies[route].append((time.perf_counter() - started) * 1000)
        tally.statuses[str(status)] += 1
        if route == "POST /events" and status == 201:
            mine.append(json.loads(raw)["event_id"])
    conn.close()


def _send(
    conn: http.client.HTTPConnection,
    route: str,
    *,
    key: str,
    mine: list[str],
    rng: random.Random,
    seed: int,
    counter: int,
) -> tuple[int, bytes]:
    if route == "POST /events":
        body = {"event_type": "load.test", "payload": {"client": seed, "n": counter}}
        return request(conn, "POST", "/events", key, body)
    if route == "GET /inbox":
        return request(conn, "GET", "/inbox?limit=10", key)
    if route == "POST /inbox/ack":
        batch = [mine.pop() for _ in range(min(len(mine), rng.randint(1, 5)))]
        return request(conn, "POST", "/inbox/ack", key, {"event_ids": batch})
    return request(conn, "GET", f"/events/{rng.choice(mine)}", key)


# --------------------------------------------------------------------------- figures


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return round(ordered[index], 1)


def latency_summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "requests": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
    }


def summarise(tallies: list[Tally], elapsed: float, args: argparse.Namespace) -> dict[str, Any]:
    by_route: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
        for route, values in tally.latencies.items():
            by_route[route].extend(values)
    everything = [v for values in by_route.values() for v in values]
    total = len(everything)
    errors = {s: n for s, n in sorted(statuses.items()) if int(s) >= 400}
    return {
        "what": "make load: local gateway, one process (GIL + in-process moto): "
        "a floor for one container, not Lambda scale-out",
        "config": {
            "clients": args.clients,
            "seconds": args.seconds,
            "max_requests": args.max_requests,
            "mix": dict(MIX),
            "target": LOOPBACK,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "elapsed_seconds": round(elapsed, 2),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "errors_by_status": errors,
        "transport_errors": sum(t.transport_errors for t in tallies),
        "latency": latency_summary(everything),
        "by_route": {route: latency_summary(by_route[route]) for route, _ in MIX},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dockhand-load-") as tmp:
        port = free_port()
        process, key = start_gateway(Path(tmp), port)
        try:
            budget = Budget(time.monotonic() + args.seconds, args.max_requests)
            tallies = [Tally() for _ in range(args.clients)]
            threads = [
                threading.Thread(target=client_loop, args=(port, key, budget, i, tallies[i]))
                for i in range(args.clients)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        finally:
            stop_gateway(process)
    return summarise(tallies, elapsed, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bounded local load run (loopback only).")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args)
    args.out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    latency = result["latency"]
    print(
        f"{result['requests']} requests in {result['elapsed_seconds']} s "
        f"({result['requests_per_second']}/s), errors {result['errors_by_status'] or 'none'}, "
        f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, p99 {latency['p99_ms']} ms "
        f"→ {args.out}"
    )
    return 1 if result["errors_by_status"] or result["transport_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
