"""Agents over real HTTP: register with an API key, heartbeat signed with the secret
(stdlib only, as the agent script in docs/agents.md does), see it in the list."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e


def signed(agent_id: str, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    path = f"/agents/{agent_id}/heartbeat"
    message = f"{timestamp}\nPOST\n{path}\n{hashlib.sha256(body).hexdigest()}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": str(timestamp),
        "X-Agent-Signature": f"v1={digest}",
    }


def test_register_heartbeat_and_list(gateway: Gateway) -> None:
    registered = gateway.http("POST", "/agents", gateway.key, {"name": "e2e-builder"})
    assert registered.status == 201, registered.body
    agent = registered.json
    body = json.dumps(
        {
            "cpu_percent": 5.5,
            "memory_percent": 20,
            "disk_percent": 30,
            "jobs_queued": 1,
            "jobs_completed": 2,
            "uptime_seconds": 60,
        }
    ).encode()
    now = int(time.time())
    path = f"/agents/{agent['agent_id']}/heartbeat"
    headers = signed(agent["agent_id"], agent["secret"], body, now)
    accepted = gateway.http("POST", path, headers=headers, data=body)
    assert accepted.status == 200, accepted.body
    assert accepted.json == {"status": "healthy", "next_check_interval": 30}

    replayed = gateway.http("POST", path, headers=headers, data=body)
    assert replayed.status == 401
    assert replayed.error_code == "unauthorized"

    listed = gateway.http("GET", "/agents", gateway.key)
    assert listed.status == 200
    mine = [a for a in listed.json["items"] if a["agent_id"] == agent["agent_id"]]
    assert len(mine) == 1
    assert mine[0]["status"] == "healthy"
    assert mine[0]["last_heartbeat"]["jobs_completed"] == 2
    assert "secret" not in mine[0]
    assert agent["secret"] not in gateway.log()
    assert headers["X-Agent-Signature"][3:] not in gateway.log()

    today = gateway.http("GET", "/stats", gateway.key)
    assert today.status == 200
    assert today.json["heartbeats"] >= 1
