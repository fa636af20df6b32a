"""`dockhand stats` and `dockhand agents` as a user runs them against `make run`:
a fresh tenant with one event, a live agent and a dead one (written as dead directly
in the emulator, as the sweeper would leave it after 10 silent minutes)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import DOCKHAND_CLI, REPO, Gateway

pytestmark = pytest.mark.e2e

FIGURES = {
    "cpu_percent": 7.5,
    "memory_percent": 20,
    "disk_percent": 30,
    "jobs_queued": 1,
    "jobs_completed": 42,
    "uptime_seconds": 60,
    "version": "2.0.1",
}


def dockhand(
    gateway: Gateway, key: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCKHAND_CLI, *args],
        env={**gateway.env, "DOCKHAND_API_KEY": key, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def send_heartbeat(gateway: Gateway, agent: dict[str, Any]) -> None:
    body = json.dumps(FIGURES).encode()
    stamp = str(int(time.time()))
    path = f"/agents/{agent['agent_id']}/heartbeat"
    message = f"{stamp}\nPOST\n{path}\n{hashlib.sha256(body).hexdigest()}"
    digest = hmac.new(agent["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": stamp,
        "X-Agent-Signature": f"v1={digest}",
    }
    assert gateway.http("POST", path, headers=headers, data=body).status == 200


def mark_dead(gateway: Gateway, tenant: str, agent_id: str) -> None:
    """What the sweeper leaves behind: status dead, out of the liveness index (gsi2)."""
    env = gateway.env
    client = boto3.client(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    client.update_item(
        TableName=f"{env['DOCKHAND_TABLE_PREFIX']}-agents",
        Key={"pk": {"S": f"T#{tenant}#A#{agent_id}"}, "sk": {"S": "A"}},
        UpdateExpression="SET #status = :dead REMOVE gsi2pk, gsi2sk",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":dead": {"S": "dead"}},
    )


@pytest.fixture(scope="module")
def tenant(gateway: Gateway) -> dict[str, str]:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    creator = gateway.create_key(name, "creator")
    viewer = gateway.create_key(name, "viewer")
    event = {"event_type": "deploy", "payload": {"sha": "abc"}}
    assert gateway.http("POST", "/events", creator, event).status == 201
    alive = gateway.http("POST", "/agents", creator, {"name": "alive", "region": "eu-west-1"})
    gone = gateway.http("POST", "/agents", creator, {"name": "gone"})
    assert alive.status == gone.status == 201
    send_heartbeat(gateway, alive.json)
    mark_dead(gateway, name, gone.json["agent_id"])
    return {"name": name, "viewer": viewer}


def utc_days(count: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=back)).isoformat() for back in range(count - 1, -1, -1)]


def test_stats_json(gateway: Gateway, tenant: dict[str, str]) -> None:
    done = dockhand(gateway, tenant["viewer"], "stats", "--days", "2", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    yesterday, today = found["items"]
    assert [yesterday["day"], today["day"]] == utc_days(2)
    assert yesterday["events_received"] == 0  # a new tenant: nothing counted yesterday
    assert today["events_received"] == 1
    assert found["today"]["inbox_pending"] == 1
    assert found["today"]["agents"] == {"healthy": 1, "unhealthy": 0, "dead": 1}


def test_stats_table(gateway: Gateway, tenant: dict[str, str]) -> None:
    done = dockhand(gateway, tenant["viewer"], "stats", "--days", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "figure",
        *(d[5:] for d in utc_days(2)),
        "total",
        "max/day",
        "trend",
    ]
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[1:] if line.strip()]
    rows = {row[0]: " ".join(row[1:]).split() for row in cells}
    assert rows["events received"] == ["0", "1", "1", "1", "▁█"]
    assert rows["notes created"] == ["0", "0", "0", "0", "▁▁"]
    assert rows["agents dead"] == ["1"]
    assert rows["inbox pending"] == ["1"]
    assert max(len(line) for line in lines) <= 100
    assert "\033[" not in done.stdout  # not a terminal: no colour


def test_agents_table_and_json(gateway: Gateway, tenant: dict[str, str]) -> None:
    done = dockhand(gateway, tenant["viewer"], "agents")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert rows["alive"][1:3] == ["healthy", "eu-west-1"]
    assert rows["alive"][3].endswith("s")  # "3s ago": seconds since its heartbeat
    assert rows["alive"][4] == "ago"
    assert "42" in rows["alive"]
    assert rows["gone"][1:4] == ["dead", "-", "never"]

    dead = dockhand(gateway, tenant["viewer"], "agents", "--status", "dead", "--json")
    assert dead.returncode == 0, dead.stderr
    assert [a["name"] for a in json.loads(dead.stdout)["items"]] == ["gone"]


def test_errors_exit_1_with_a_clear_message(gateway: Gateway, tenant: dict[str, str]) -> None:
    bad = dockhand(gateway, "dk_nokey_notasecret", "agents")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith("dockhand: HTTP 401 unauthorized")
    assert "notasecret" not in bad.stderr

    down = dockhand(gateway, tenant["viewer"], "stats", DOCKHAND_URL="http://127.0.0.1:9")
    assert down.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in down.stderr
