"""Helpers for the agents-as-workers tests: signed worker calls (lease, ack, release)."""

from __future__ import annotations

import json
from typing import Any

from common.agents import signing
from common.runtime import clock
from tests.conftest import ApiClient, Result


def signed_call(
    api: ApiClient,
    agent: dict[str, Any],
    action: str,
    body: dict[str, Any],
    *,
    stamp: str | None = None,
    headers: dict[str, str] | None = None,
) -> Result:
    """POST /agents/{id}/{action} signed by the agent, with a millisecond timestamp."""
    raw = json.dumps(body).encode()
    stamp = stamp or f"{clock.now():.3f}"
    path = signing.signed_path(agent["agent_id"], action)
    sent = {
        "content-type": "application/json",
        "x-agent-timestamp": stamp,
        "x-agent-signature": signing.sign(agent["secret"], stamp, "POST", path, raw),
        **(headers or {}),
    }
    return api.post(path, body=raw, headers=sent)


def create_events(
    api: ApiClient, key: str, n: int, event_type: str = "build.requested"
) -> list[str]:
    made = []
    for i in range(n):
        result = api.post(
            "/events",
            key=key,
            json_body={"event_type": event_type, "payload": {"n": i}, "source": "ci"},
        )
        assert result.status == 201, result.text
        made.append(str(result.json["event_id"]))
    return made
