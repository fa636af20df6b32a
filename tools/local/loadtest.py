"""`make load`: a bounded load run against a local gateway this command starts itself.

N clients (threads, one keep-alive connection each) send a mix of POST /events,
GET /inbox, POST /inbox/ack and GET /events/{id} to 127.0.0.1 for a fixed time or
request budget, whichever ends first; then the gateway is stopped and the figures
(requests, errors by status, latency p50/p95/p99 overall and per route) go to
docs/load.json.

Then the same mix with the same number of threads runs **in-process**: a process
set up exactly like the gateway (the same embedded emulator, the same handlers via
the same `Gateway.handle`) but with no HTTP in front; the ratio of the two request
rates is what the gateway's HTTP layer costs (target: at least 0.5).

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
from collections.abc import Callable
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


# Both runs: schedules off, and one key drives all clients: the per-key limit
# (600/min) would turn the run into a 429 benchmark.  The limiter still runs (one
# lease update per 20 requests).
GATEWAY_ENV = {
    "DOCKHAND_SCHEDULES": "off",
    "DOCKHAND_RATE_LIMIT_REQUESTS": "1000000",
    "PYTHONUNBUFFERED": "1",
}


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
    env.update(GATEWAY_ENV, PORT=str(port), DOCKHAND_STATE_DIR=str(state_dir))
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


Send = Callable[[str, str, str | None, Any], tuple[int, bytes]]


class HttpSender:
    """One client's connection to the gateway (reopened when the server closes it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)

    def __call__(self, method: str, path: str, key: str | None, body: Any) -> tuple[int, bytes]:
        try:
            return request(self.conn, method, path, key, body)
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
            raise

    def close(self) -> None:
        self.conn.close()


class InProcessSender:
    """The same request handed straight to the gateway's `Gateway.handle`: route match,
    payload 2.0 event, handler, response (what the gateway does, minus HTTP)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def __call__(self, method: str, path: str, key: str | None, body: Any) -> tuple[int, bytes]:
        from tools.local import apigw, infra_model
        from tools.local.gateway import normalise_response, read_query

        raw_path, _, raw_query = path.partition("?")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        matched = apigw.match_route(method, raw_path)
        route_key, params = matched if matched else ("$default", {})
        event = apigw.build_event(
            method,
            raw_path,
            route_key=route_key,
            path_params=params,
            query=read_query(raw_query),
            headers=headers,
            body=data,
        )
        function = infra_model.route_table()[route_key] if matched else None
        status, _, payload = normalise_response(self.gateway.handle(event, function))
        return status, payload

    def close(self) -> None:
        pass


def client_loop(send: Send, key: str, budget: Budget, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
    routes = [route for route, _ in MIX]
    weights = [weight for _, weight in MIX]
    mine: list[str] = []  # ids this client created: targets for GET and ack
    counter = 0
    while budget.take():
        route = rng.choices(routes, weights)[0]
        if route != "POST /events" and not mine:
            route = "POST /events"
        counter += 1
        started = time.perf_counter()
        try:
            status, raw = _send(
                send, route, key=key, mine=mine, rng=rng, seed=seed, counter=counter
            )
        except (OSError, http.client.HTTPException):
            tally.transport_errors += 1
            continue
        tally.latencies[route].append((time.perf_counter() - started) * 1000)
        tally.statuses[str(status)] += 1
        if route == "POST /events" and status == 201:
            mine.append(json.loads(raw)["event_id"])


def _send(
    send: Send,
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
        return send("POST", "/events", key, body)
    if route == "GET /inbox":
        return send("GET", "/inbox?limit=10", key, None)
    if route == "POST /inbox/ack":
        batch = [mine.pop() for _ in range(min(len(mine), rng.randint(1, 5)))]
        return send("POST", "/inbox/ack", key, {"event_ids": batch})
    return send("GET", f"/events/{rng.choice(mine)}", key, None)


def drive(senders: list[Any], key: str, args: argparse.Namespace) -> tuple[list[Tally], float]:
    """Run one client thread per sender until the budget ends; (tallies, elapsed)."""
    budget = Budget(time.monotonic() + args.seconds, args.max_requests)
    tallies = [Tally() for _ in senders]
    threads = [
        threading.Thread(target=client_loop, args=(sender, key, budget, i, tallies[i]))
        for i, sender in enumerate(senders)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for sender in senders:
        sender.close()
    return tallies, elapsed


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


def figures(tallies: list[Tally], elapsed: float) -> dict[str, Any]:
    by_route: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
        for route, values in tally.latencies.items():
            by_route[route].extend(values)
    everything = [v for values in by_route.values() for v in values]
    total = len(everything)
    return {
        "elapsed_seconds": round(elapsed, 2),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "errors_by_status": {s: n for s, n in sorted(statuses.items()) if int(s) >= 400},
        "transport_errors": sum(t.transport_errors for t in tallies),
        "latency": latency_summary(everything),
        "by_route": {route: latency_summary(by_route[route]) for route, _ in MIX},
    }


def summarise(
    gateway: dict[str, Any], in_process: dict[str, Any] | None, args: argparse.Namespace
) -> dict[str, Any]:
    ratio = None
    if in_process and in_process["requests_per_second"]:
        ratio = round(gateway["requests_per_second"] / in_process["requests_per_second"], 2)
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
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        **gateway,
        "in_process": in_process,
        "gateway_to_in_process_ratio": ratio,
    }


def run_gateway(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dockhand-load-") as tmp:
        port = free_port()
        process, key = start_gateway(Path(tmp), port)
        try:
            tallies, elapsed = drive([HttpSender(port) for _ in range(args.clients)], key, args)
        finally:
            stop_gateway(process)
    return figures(tallies, elapsed)


def run_in_process(args: argparse.Namespace) -> dict[str, Any]:
    """The in-process run in a process of its own, set up like the gateway's."""
    with tempfile.TemporaryDirectory(prefix="dockhand-load-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_"))}
        env.update(GATEWAY_ENV, DOCKHAND_STATE_DIR=tmp)
        command = [
            sys.executable, "-m", "tools.local.loadtest", "--in-process-worker",
            "--clients", str(args.clients), "--seconds", str(args.seconds),
            "--max-requests", str(args.max_requests),
        ]  # fmt: skip
        done = subprocess.run(
            command,
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.seconds + 120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"in-process run failed:\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def in_process_worker(args: argparse.Namespace) -> int:
    """Set up like `make run` (embedded emulator, tables, bootstrap key), then drive
    `Gateway.handle` from the same number of threads; print the figures as JSON."""
    import logging

    from tools.local import backend as local_aws
    from tools.local import gateway as local

    logging.basicConfig(level=logging.WARNING)
    backend = local_aws.start_backend()
    try:
        local_aws.prepare_resources(backend)
        key = local_aws.create_bootstrap_key(backend)
        assert key is not None
        gateway = local.Gateway()
        tallies, elapsed = drive([InProcessSender(gateway) for _ in range(args.clients)], key, args)
    finally:
        backend.stop()
    print(json.dumps(figures(tallies, elapsed)), flush=True)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    gateway = run_gateway(args)
    in_process = None if args.gateway_only else run_in_process(args)
    return summarise(gateway, in_process, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bounded local load run (loopback only).")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--gateway-only", action="store_true", help="skip the in-process run")
    parser.add_argument("--in-process-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process_worker:
        return in_process_worker(args)
    result = run(args)
    args.out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(_line("gateway", result))
    if result["in_process"]:
        print(_line("in-process", result["in_process"]))
        print(f"gateway / in-process requests per second: {result['gateway_to_in_process_ratio']}")
    print(f"→ {args.out}")
    failed = result["errors_by_status"] or result["transport_errors"]
    return 1 if failed else 0


def _line(name: str, figures_: dict[str, Any]) -> str:
    latency = figures_["latency"]
    return (
        f"{name}: {figures_['requests']} requests in {figures_['elapsed_seconds']} s "
        f"({figures_['requests_per_second']}/s), errors {figures_['errors_by_status'] or 'none'}, "
        f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, p99 {latency['p99_ms']} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
