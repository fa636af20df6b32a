"""Leases over real HTTP against the local gateway (`make run`): many concurrent
leasers never share an event, and `dockhand inbox consume` acknowledges, releases
on failure and stops cleanly on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DOCKHAND_CLI, REPO, Gateway

pytestmark = pytest.mark.e2e

LEASERS = 16


def _tenant_key(gateway: Gateway) -> str:
    return gateway.create_key(f"leases-{uuid.uuid4().hex[:8]}", "creator")


def _create(gateway: Gateway, key: str, count: int) -> list[str]:
    created = []
    for n in range(count):
        result = gateway.http("POST", "/events", key, {"event_type": "job", "payload": {"n": n}})
        assert result.status == 201, result.body
        created.append(str(result.json["event_id"]))
    return created


# `make run` serialises the emulator's DynamoDB requests and applies transactions
# atomically (tools/local/emulator.py), as DynamoDB does: the property holds end to end.
def test_concurrent_leasers_never_hold_the_same_event(gateway: Gateway) -> None:
    key = _tenant_key(gateway)
    created = set(_create(gateway, key, 48))
    barrier = threading.Barrier(LEASERS)
    statuses: list[int] = []

    def consumer(_: int) -> list[str]:
        barrier.wait()
        mine: list[str] = []
        for _ in range(8):
            result = gateway.http("POST", "/inbox/lease", key, {"limit": 2, "lease_seconds": 60})
            statuses.append(result.status)
            if result.status != 200:
                continue
            ids = [item["event_id"] for item in result.json["items"]]
            mine += ids
            if ids:
                body = {"lease_id": result.json["lease_id"]}
                ack = gateway.http("POST", "/inbox/ack", key, body)
                assert ack.status == 200, ack.body
                assert ack.json["acknowledged"] == ids, (ids, ack.json)
        return mine

    with ThreadPoolExecutor(LEASERS) as pool:
        held = [event_id for got in pool.map(consumer, range(LEASERS)) for event_id in got]
    assert len(held) == len(set(held)), "two leases held one event"
    assert set(statuses) <= {200, 503}, statuses  # 503 only as a retryable answer
    # Whatever the leasers did not get is still there: nothing lost.
    rest = gateway.http("POST", "/inbox/lease", key, {"limit": 100}).json["items"]
    assert set(held) | {item["event_id"] for item in rest} == created
    for event_id in held:
        assert gateway.http("GET", f"/events/{event_id}", key).json["status"] == "delivered"


FAILS_ONCE = """
import json, os, sys
event = json.load(sys.stdin)
marker = os.path.join(sys.argv[1], event["event_id"])
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(3)
with open(os.path.join(sys.argv[1], "done.txt"), "a") as done:
    done.write(f"{event['event_id']} {event['attempts']} {event['payload']['n']}\\n")
"""


def _consume(
    gateway: Gateway, key: str, command: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCKHAND_CLI, "inbox", "consume", "--exec", command, *args],
        env={**gateway.env, "DOCKHAND_API_KEY": key},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_consume_acknowledges_and_retries_a_command_that_fails_once(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = _tenant_key(gateway)
    created = _create(gateway, key, 3)
    script = tmp_path / "handle.py"
    script.write_text(FAILS_ONCE)
    command = f"{sys.executable} {script} {tmp_path}"
    result = _consume(gateway, key, command, "--until-empty", "--backoff-seconds", "0")
    assert result.returncode == 0, result.stderr
    assert "exited 3; released" in result.stderr
    done = (tmp_path / "done.txt").read_text().split("\n")[:-1]
    # Each event processed once successfully, on its second lease, in order.
    assert [line.split()[0] for line in done] == created
    assert {line.split()[1] for line in done} == {"2"}
    for event_id in created:
        assert gateway.http("GET", f"/events/{event_id}", key).json["status"] == "delivered"
    assert gateway.http("GET", "/inbox", key).json["items"] == []


def test_consume_stops_on_sigint_and_releases_what_it_holds(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = _tenant_key(gateway)
    created = _create(gateway, key, 2)
    started = tmp_path / "started"
    command = f"touch {started} && sleep 60"
    process = subprocess.Popen(
        [*DOCKHAND_CLI, "inbox", "consume", "--exec", command, "--lease-seconds", "600"],
        env={**gateway.env, "DOCKHAND_API_KEY": key},
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our SIGINT only, as a terminal's Ctrl-C sends to the group
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "the command never started"
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "released 2 events still held" in stderr
    items: list[dict[str, Any]] = gateway.http("GET", "/inbox", key).json["items"]
    assert [item["event_id"] for item in items] == created
    assert {item["leased_until"] for item in items} == {None}
