"""Agent items, keys and liveness rules (agents table; see docs/agents.md).

- agent        pk `T#<tenant>#A#<agent_id>`, sk `A`; gsi1 `T#<tenant>#AGENTS` / name
               (the tenant's list); while not dead, gsi2 `LIVE#<shard>` /
               `<due epoch ms, 15 digits>#<tenant>#<agent_id>` (the sweeper's index).
- name claim   pk `T#<tenant>#AN#<name>`, sk `AN` (names are unique per tenant).
- history      pk `T#<tenant>#AH#<agent_id>`, sk `H#<ULID>`; TTL 90 days.
- tombstone    pk `T#<tenant>#AX#<agent_id>`, sk `AX`, status `deleted`, in gsi2 due
               now: a deleted agent whose held work its DELETE could not all release.
- signature    pk `T#<tenant>#SIG#<sha256>`, sk `SIG`; TTL the end of the signature's
               300 s window (a worker call's signature is accepted once).

"Due" is when the agent's next liveness change falls due if it stays silent: 3
intervals after its last heartbeat while healthy, 20 while unhealthy.  Indexing by
that moment, not by the last heartbeat, lets agents with different intervals share
one index: the sweeper reads `due < now` per shard and finds exactly the agents that
change, whatever their intervals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.config import settings
from common.runtime.models import Id, Time
from common.store.tables import PK, SK

Status = Literal["healthy", "unhealthy", "dead"]
STATUSES: tuple[Status, ...] = ("healthy", "unhealthy", "dead")
UNHEALTHY_AFTER_INTERVALS = 3
DEAD_AFTER_INTERVALS = 20
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 10, 3600
HISTORY_RETENTION_SECONDS = 90 * 86_400
_MS_DIGITS = 15  # epoch milliseconds stay 13 digits until the year 2286; 15 leaves room


def agent_key(tenant: str, agent_id: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#A#{agent_id}", SK: "A"}


def name_key(tenant: str, name: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#AN#{name}", SK: "AN"}


def tombstone_key(tenant: str, agent_id: str) -> dict[str, str]:
    """A deleted agent whose held work is not all released yet (in the sweeper's index)."""
    return {PK: f"T#{tenant}#AX#{agent_id}", SK: "AX"}


def list_pk(tenant: str) -> str:
    return f"T#{tenant}#AGENTS"


def history_pk(tenant: str, agent_id: str) -> str:
    return f"T#{tenant}#AH#{agent_id}"


def shard_of(agent_id: str) -> int:
    digest = hashlib.sha256(agent_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % settings().agent_shards


def liveness_pk(shard: int | str) -> str:
    return f"LIVE#{shard}"


def liveness_sk(due_ms: int, tenant: str, agent_id: str) -> str:
    return f"{due_ms:0{_MS_DIGITS}d}#{tenant}#{agent_id}"


def cutoff_sk(now_ms: int) -> str:
    # Every key "<ms>#..." with ms < now_ms sorts before the bare padded moment.
    return f"{now_ms:0{_MS_DIGITS}d}"


def interval_of(item: Mapping[str, Any]) -> int:
    """The agent's heartbeat interval; agents registered before intervals existed
    have the deployment's default."""
    return int(item.get("interval") or settings().heartbeat_interval_seconds)


def due_ms(status: Status, last_heartbeat_ms: int, interval: int) -> int:
    """When a silent agent in `status` changes next (healthy → unhealthy → dead)."""
    intervals = UNHEALTHY_AFTER_INTERVALS if status == "healthy" else DEAD_AFTER_INTERVALS
    return last_heartbeat_ms + intervals * interval * 1000


@with_config(ConfigDict(extra="forbid"))
class AgentRegistration(TypedDict):
    """What registration fixed: every view of an agent has it (not a response of its own)."""

    agent_id: Id
    name: str
    region: str | None
    labels: dict[str, str]
    heartbeat_interval_seconds: Annotated[int, Field(ge=1)]
    created_at: Time


@with_config(ConfigDict(extra="forbid", title="Agent"))
class AgentView(AgentRegistration):
    status: Status
    last_heartbeat_at: Time | None
    # The figures of the last heartbeat as the agent sent them (HeartbeatFigures).
    last_heartbeat: dict[str, Any] | None


def registration(item: Mapping[str, Any]) -> AgentRegistration:
    return {
        "agent_id": str(item["agent_id"]),
        "name": str(item["name"]),
        "region": item.get("region"),
        "labels": dict(item.get("labels") or {}),
        "heartbeat_interval_seconds": interval_of(item),
        "created_at": str(item["created_at"]),
    }


def public_view(item: Mapping[str, Any]) -> AgentView:
    """What clients see of an agent: never the secret (which is not stored anyway)."""
    return {
        **registration(item),
        "status": status(str(item["status"])),
        "last_heartbeat_at": item.get("last_heartbeat_at"),
        "last_heartbeat": item.get("figures"),
    }


def status(value: str) -> Status:
    """A stored status as the Status type (items only ever hold the three values)."""
    for known in STATUSES:
        if value == known:
            return known
    raise ValueError(f"unknown agent status {value!r}")
