"""Helpers shared by the agent, sweeper, rollup and stats tests: register an agent
through the API and send heartbeats signed the way the agent script signs them."""

from __future__ import annotations

import json
from typing import Any

from common.agents import registry as agents
from common.runtime import clock
from tests.conftest import ApiClient, Result

FIGURES: dict[str, Any] = {
    "cpu_percent": 12.5,
    "memory_percent": 40,
    "disk_percent": 71.25,
    "jobs_queued": 3,
    "jobs_completed": 120,
    "uptime_seconds": 3600,
    "version": "1.4.2",
}


def register(api: ApiClient, key: str, name: str = "builder-1", **extra: Any) -> dict[str, Any]:
    result = api.post("/agents", key=key, json_body={"name": name, **extra})
    assert result.status == 201, result.text
    body: dict[str, Any] = result.json
    return body


def signed_headers(
    agent_id: str,
    secret: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    path: str | None = None,
    method: str = "POST",
) -> dict[str, str]:
    stamp = str(int(clock.now()) if timestamp is None else timestamp)
    signature = agents.sign(secret, stamp, method, path or agents.heartbeat_path(agent_id), body)
    return {
        "content-type": "application/json",
        "x-agent-timestamp": stamp,
        "x-agent-signature": signature,
    }


def heartbeat(
    api: ApiClient,
    agent: dict[str, Any],
    figures: dict[str, Any] | None = None,
    timestamp: int | None = None,
    **overrides: Any,
) -> Result:
    body = json.dumps(FIGURES if figures is None else figures).encode()
    headers = signed_headers(agent["agent_id"], agent["secret"], body, timestamp=timestamp)
    headers.update(overrides.pop("headers", {}))
    return api.post(
        agents.heartbeat_path(agent["agent_id"]), body=overrides.pop("body", body), headers=headers
    )
