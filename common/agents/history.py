"""Status changes: the transaction items that record one (history + inbox event), and
`GET /agents/{id}/history`.

A change is made by a conditional update of the agent (the sweeper's or the
heartbeat's); these items join that update's transaction, so the change, its history
entry and its `agent.*` event are stored together or not at all.  Whoever loses the
condition (an overlapping or retried sweep, a racing heartbeat) writes none of them:
one change, one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.agents import layout
from common.agents.layout import Status
from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound
from common.runtime.models import PageQuery, Time
from common.store import cursor, dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE

Cause = Literal["sweeper", "heartbeat"]
CAUSES: tuple[Cause, ...] = ("sweeper", "heartbeat")
EVENT_SOURCE = "dockhand.agents"
EVENT_TYPES: dict[Status, str] = {
    "unhealthy": "agent.unhealthy",
    "dead": "agent.dead",
    "healthy": "agent.recovered",
}


def change_ops(
    agent: Mapping[str, Any],
    previous: Status,
    status: Status,
    cause: Cause,
    now: float,
    *,
    last_heartbeat_at: str | None,
    also_count: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """History entry + inbox event for one change, to append to the change's transaction."""
    from common.triggers import events  # the triggers domain builds inbox events

    tenant, agent_id = str(agent["tenant"]), str(agent["agent_id"])
    at = clock.iso(now)
    entry = {
        PK: layout.history_pk(tenant, agent_id),
        SK: f"H#{ids.new_id()}",
        "status": status,
        "previous_status": previous,
        "at": at,
        "cause": cause,
        TTL_ATTRIBUTE: int(now) + layout.HISTORY_RETENTION_SECONDS,
    }
    payload = {
        "agent_id": agent_id,
        "name": agent["name"],
        "region": agent.get("region"),
        "previous_status": previous,
        "status": status,
        "last_heartbeat_at": last_heartbeat_at,
    }
    _, event_ops = events.system_event_ops(
        tenant, EVENT_TYPES[status], EVENT_SOURCE, payload, now, also_count=also_count
    )
    return [
        dynamo.put_op(settings().agents_table, entry, condition="attribute_not_exists(pk)"),
        *event_ops,
    ]


@with_config(ConfigDict(extra="forbid", title="AgentHistoryEntry"))
class HistoryEntryView(TypedDict):
    status: Status
    previous_status: Status
    at: Time
    cause: Cause


def _cause(value: str) -> Cause:
    """A stored cause as the Cause type (entries only ever hold the two values)."""
    for known in CAUSES:
        if value == known:
            return known
    raise ValueError(f"unknown history cause {value!r}")


def public_entry(item: Mapping[str, Any]) -> HistoryEntryView:
    return {
        "status": layout.status(str(item["status"])),
        "previous_status": layout.status(str(item["previous_status"])),
        "at": str(item["at"]),
        "cause": _cause(str(item["cause"])),
    }


class HistoryQuery(PageQuery):
    """GET /agents/{agent_id}/history: limit and cursor."""


def list_history(
    tenant: str, agent_id: str, limit: int, token: str | None
) -> tuple[list[HistoryEntryView], str | None]:
    """The agent's status changes, newest first; 404 for an unknown or foreign agent."""
    from common.agents.signing import tenant_of

    if tenant_of(agent_id) != tenant:
        raise NotFound("No such agent.")
    bound = {"list": "agent_history", "agent_id": agent_id}
    start = cursor.decode(token, tenant, bound) if token else None
    table = settings().agents_table
    if dynamo.get(table, layout.agent_key(tenant, agent_id), projection=[PK]) is None:
        raise NotFound("No such agent.")
    page = dynamo.query_partition(
        table,
        tenant,
        layout.history_pk(tenant, agent_id),
        limit=limit + 1,  # one more than asked: a full page knows whether more exist
        start=start,
        forward=False,
    )
    items = page.items[:limit]
    view = [public_entry(i) for i in items]
    if len(page.items) > limit:
        return view, cursor.encode(tenant, bound, {PK: items[-1][PK], SK: items[-1][SK]})
    if page.last_key is not None:  # expired entries were skipped: more may follow
        return view, cursor.encode(tenant, bound, page.last_key)
    return view, None
