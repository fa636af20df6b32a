"""Named queues over real HTTP against the local gateway (`make run`): the stream pump
fills a queue within 2 s of each 201, two consumers (one per queue) each see every
event, POST /inbox/extend holds a lease, and `dockhand queues` / `inbox consume --queue`
drive it from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DOCKHAND_CLI, REPO, Gateway

pytestmark = pytest.mark.e2e


def _cli(gateway: Gateway, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCKHAND_CLI, *args],
        env={**gateway.env, "DOCKHAND_API_KEY": key},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait_listed(gateway: Gateway, key: str, queue: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items = list(gateway.http("GET", f"/inbox?queue={queue}", key).json["items"])
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_queues_fill_from_the_stream_and_are_consumed_independently(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = gateway.create_key(f"queues-{uuid.uuid4().hex[:8]}", "creator")
    _create_billing_and_analytics(gateway, key)
    created = _post_orders_and_one_other(gateway, key)
    _consume_billing_only(gateway, key, tmp_path, created)
    _extend_a_lease_on_analytics(gateway, key)
    assert _cli(gateway, key, "queues", "delete", "billing").returncode == 0
    gone = gateway.http("GET", "/inbox?queue=billing", key)
    assert gone.status == 404
    assert _cli(gateway, key, "queues", "delete", "inbox").returncode == 1


def _create_billing_and_analytics(gateway: Gateway, key: str) -> None:
    made = _cli(gateway, key, "queues", "create", "billing", "--event-type", "order.*")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["event_types"] == ["order.*"]
    assert _cli(gateway, key, "queues", "create", "analytics").returncode == 0
    listed = json.loads(_cli(gateway, key, "queues", "list").stdout)
    assert [q["name"] for q in listed] == ["inbox", "analytics", "billing"]


def _post_orders_and_one_other(gateway: Gateway, key: str) -> list[str]:
    """Three order.paid events (billing's) and a user.joined one; the ids of the orders,
    found in billing within 2 s of their 201s, and all four in analytics."""
    created = []
    for n in range(3):
        answer = gateway.http(
            "POST", "/events", key, {"event_type": "order.paid", "payload": {"n": n}}
        )
        assert answer.status == 201
        created.append((answer.json["event_id"], time.monotonic()))
    gateway.http("POST", "/events", key, {"event_type": "user.joined", "payload": {}})
    billing = _wait_listed(gateway, key, "billing", 3)
    # Within 2 s of the last 201 (the pump reads the stream 5 times a second).
    assert time.monotonic() - created[-1][1] < 2.0
    assert [i["event_id"] for i in billing] == [event_id for event_id, _ in created]
    assert len(_wait_listed(gateway, key, "analytics", 4)) == 4
    return [event_id for event_id, _ in created]


def _consume_billing_only(gateway: Gateway, key: str, tmp_path: Path, created: list[str]) -> None:
    """A consumer drains billing; analytics and the tenant inbox keep every event."""
    script = tmp_path / "ok.py"
    script.write_text("import sys, json; json.load(sys.stdin)\n")
    consumed = _cli(
        gateway,
        key,
        "inbox",
        "consume",
        "--queue",
        "billing",
        "--exec",
        f"{sys.executable} {script}",
        "--until-empty",
    )
    assert consumed.returncode == 0, consumed.stderr
    assert gateway.http("GET", "/inbox?queue=billing", key).json["items"] == []
    assert len(gateway.http("GET", "/inbox?queue=analytics", key).json["items"]) == 4
    for event_id in created:
        assert gateway.http("GET", f"/events/{event_id}", key).json["status"] == "pending"
    shown = json.loads(_cli(gateway, key, "queues", "show", "analytics").stdout)
    assert shown["pending"] == 4


def _extend_a_lease_on_analytics(gateway: Gateway, key: str) -> None:
    held = gateway.http(
        "POST", "/inbox/lease", key, {"queue": "analytics", "limit": 2, "lease_seconds": 5}
    ).json
    extended = gateway.http(
        "POST",
        "/inbox/extend",
        key,
        {"queue": "analytics", "lease_id": held["lease_id"], "lease_seconds": 600},
    )
    assert extended.status == 200
    assert extended.json["extended"] == [i["event_id"] for i in held["items"]]
    assert extended.json["expires_at"] > held["expires_at"]
