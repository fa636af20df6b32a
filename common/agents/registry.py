"""Machine agents: registration, reads, deletion and secret rotation (function `heartbeat`).

Signatures live in `signing`, heartbeats in `heartbeats`, the liveness sweep in
`sweep`, status history and alerts in `history`, the item layout in `layout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.agents import layout
from common.agents.held import WorkView
from common.agents.signing import (  # noqa: F401 - the agent API callers and tests use
    agent_secret,
    heartbeat_path,
    new_agent_id,
    sign,
    tenant_of,
)
from common.runtime import catalogue as metrics
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, ServiceUnavailable
from common.runtime.models import INTEGRAL, PageQuery, Time, query_choice, query_text
from common.runtime.slug import SLUG_PATTERN
from common.store import cursor, dynamo, transact
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, SK

ROTATION_OVERLAP_SECONDS = 600  # heartbeats signed with the previous secret, after a rotation

LabelKey = Annotated[str, Field(min_length=1, max_length=64)]
LabelValue = Annotated[str, Field(max_length=256)]


class RegisterAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLUG_PATTERN)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)
    heartbeat_interval_seconds: (
        Annotated[
            int,
            Field(ge=layout.MIN_INTERVAL_SECONDS, le=layout.MAX_INTERVAL_SECONDS, strict=True),
            INTEGRAL,
        ]
        | None
    ) = None


# ---------------------------------------------------------------- response views

OnceSecret = Annotated[str, Field(description="Shown once, never again.")]


@with_config(ConfigDict(extra="forbid", title="AgentCreated"))
class AgentCreatedView(layout.AgentRegistration):
    """The contract's registration answer: no status or heartbeat yet."""

    secret: OnceSecret


@with_config(ConfigDict(extra="forbid", title="SecretRotated"))
class SecretRotatedView(TypedDict):
    secret: OnceSecret
    previous_valid_until: Time


# ---------------------------------------------------------------- registration


def register(tenant: str, body: RegisterAgent) -> AgentCreatedView:
    """Store a new agent and claim its name in one transaction; 409 if the name is taken."""
    agent_id = new_agent_id(tenant)
    now = clock.now()
    now_ms = int(now * 1000)
    interval = body.heartbeat_interval_seconds or settings().heartbeat_interval_seconds
    due = layout.due_ms("healthy", now_ms, interval)
    # A new agent is healthy, and its liveness clock starts at registration: it has
    # the same 3 intervals to send its first heartbeat as any agent has between two.
    agent = {
        **layout.agent_key(tenant, agent_id),
        GSI1_PK: layout.list_pk(tenant),
        GSI1_SK: body.name,
        GSI2_PK: layout.liveness_pk(layout.shard_of(agent_id)),
        GSI2_SK: layout.liveness_sk(due, tenant, agent_id),
        "agent_id": agent_id,
        "tenant": tenant,
        "name": body.name,
        "region": body.region,
        "labels": body.labels,
        "status": "healthy",
        "interval": interval,
        "generation": 0,
        "created_at": clock.iso(now),
        "last_ts_ms": 0,
        "last_heartbeat_ms": now_ms,
    }
    claim = {**layout.name_key(tenant, body.name), "agent_id": agent_id}
    table = settings().agents_table
    items = [
        dynamo.put_op(table, agent, condition="attribute_not_exists(pk)"),
        dynamo.put_op(table, claim, condition="attribute_not_exists(pk)"),
    ]
    if _transact(items) is not None:
        raise Conflict(f"An agent named {body.name!r} already exists.")
    return {**layout.registration(agent), "secret": agent_secret(agent_id)}


def _transact(items: list[dict[str, Any]]) -> int | None:
    """Run a transaction (common.store.transact); the index of the item whose condition
    failed, else None."""
    reasons = transact.run(items)
    if reasons is None:
        return None
    failed = [i for i, reason in enumerate(reasons) if transact.failed_condition(reason)]
    if not failed:
        raise ServiceUnavailable(retry_after=1)  # cancelled for no reason we can act on
    return failed[0]


# ---------------------------------------------------------------- deletion and rotation


def _own_agent(tenant: str, agent_id: str) -> dict[str, Any]:
    """The tenant's agent item; another tenant's id answers exactly like an unknown one."""
    if tenant_of(agent_id) != tenant:
        raise NotFound("No such agent.")
    item = dynamo.get(settings().agents_table, layout.agent_key(tenant, agent_id))
    if item is None:
        raise NotFound("No such agent.")
    return item


def delete_agent(tenant: str, agent_id: str) -> None:
    """Remove the agent and free its name: its heartbeats are refused from now on (they
    are conditional on the agent item), and it leaves the sweeper's index with it.
    History entries stay until their 90-day TTL; no route shows them any more."""
    agent = _own_agent(tenant, agent_id)
    table = settings().agents_table
    items = [
        dynamo.delete_op(
            table, layout.agent_key(tenant, agent_id), condition="attribute_exists(pk)"
        ),
        dynamo.delete_op(
            table,
            layout.name_key(tenant, str(agent["name"])),
            condition="agent_id = :id",
            values={":id": agent_id},
        ),
    ]
    if _transact(items) is not None:
        raise NotFound("No such agent.")  # deleted by a concurrent request
    metrics.count("agents_deleted")
    _release_work(tenant, agent_id)


def _release_work(tenant: str, agent_id: str) -> None:
    """What the deleted agent held goes back at once; beyond one call's budget, a
    tombstone in the sweeper's index has the sweeper release the rest."""
    from common.agents import held

    if held.release(tenant, agent_id, held.RELEASE_BUDGET) < held.RELEASE_BUDGET:
        return
    now_ms = int(clock.now() * 1000)
    tombstone = {
        **layout.tombstone_key(tenant, agent_id),
        GSI2_PK: layout.liveness_pk(layout.shard_of(agent_id)),
        GSI2_SK: layout.liveness_sk(now_ms, tenant, agent_id),
        "tenant": tenant,
        "agent_id": agent_id,
        "status": "deleted",
    }
    dynamo.put(settings().agents_table, tombstone)


def rotate_secret(tenant: str, agent_id: str) -> SecretRotatedView:
    """A new secret generation; the previous one stays valid for 10 minutes."""
    agent = _own_agent(tenant, agent_id)
    now = clock.now()
    current = int(agent.get("generation") or 0)
    valid_until_ms = int(now * 1000) + ROTATION_OVERLAP_SECONDS * 1000
    names = {"#gen": "generation"}
    values: dict[str, Any] = {":next": current + 1, ":current": current, ":until": valid_until_ms}
    unchanged = "#gen = :current" if "generation" in agent else "attribute_not_exists(#gen)"
    try:
        dynamo.update(
            settings().agents_table,
            layout.agent_key(tenant, agent_id),
            "SET #gen = :next, previous_generation = :current, previous_valid_until_ms = :until",
            condition=f"attribute_exists(pk) AND {unchanged}",
            names=names,
            values=values,
        )
    except dynamo.ConditionFailed:
        raise Conflict(
            "The secret was rotated or the agent deleted meanwhile; try again."
        ) from None
    metrics.count("agent_secrets_rotated")
    return {
        "secret": agent_secret(agent_id, current + 1),
        "previous_valid_until": clock.iso(valid_until_ms / 1000),
    }


# ---------------------------------------------------------------- reads


@with_config(ConfigDict(extra="forbid", title="AgentDetail"))
class AgentDetailView(layout.AgentView):
    """One agent with the work it holds now (leases taken as a worker)."""

    work: WorkView


def get_agent(tenant: str, agent_id: str) -> AgentDetailView:
    """The tenant's agent and its work; another tenant's id answers like an unknown one."""
    from common.agents import held

    view = layout.public_view(_own_agent(tenant, agent_id))
    return {**view, "work": held.work(tenant, agent_id)}


class AgentQuery(PageQuery):
    """GET /agents: optionally only one status, or one region."""

    status: Annotated[str, query_choice(layout.STATUSES)] | None = None
    region: Annotated[str, query_text(64)] | None = None


# One list page reads at most this many agents before it answers (with a cursor),
# so a filter matching few agents cannot make one request arbitrarily expensive.
MAX_EXAMINED_PER_PAGE = 1000


def list_agents(tenant: str, query: AgentQuery) -> tuple[list[layout.AgentView], str | None]:
    """A page of the tenant's agents by name, optionally filtered; (items, next_cursor)."""
    limit = query.limit
    bound = {"list": "agents", "status": query.status, "region": query.region}
    filters = _filters(query)
    start = cursor.decode(query.cursor, tenant, bound) if query.cursor else None
    found: list[dict[str, Any]] = []
    examined = 0
    while True:
        # Ask for one more than needed: a full page then knows whether more exist.  Limit
        # caps the items a Query evaluates before filtering, so `examined` counts them.
        request_limit = limit + 1 - len(found)
        page = dynamo.query_partition(
            settings().agents_table,
            tenant,
            layout.list_pk(tenant),
            index=GSI1,
            limit=request_limit,
            start=start,
            where=filters,
        )
        examined += request_limit
        found.extend(page.items)
        if len(found) > limit:
            kept = found[:limit]
            return [layout.public_view(i) for i in kept], cursor.encode(
                tenant, bound, _position(kept[-1])
            )
        if page.last_key is None:
            return [layout.public_view(i) for i in found], None
        start = page.last_key
        if examined >= MAX_EXAMINED_PER_PAGE:
            return [layout.public_view(i) for i in found], cursor.encode(
                tenant, bound, page.last_key
            )


def _filters(query: AgentQuery) -> dynamo.Filter | None:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    conditions = []
    if query.status:
        names["#status"] = "status"
        values[":status"] = query.status
        conditions.append("#status = :status")
    if query.region:
        names["#region"] = "region"
        values[":region"] = query.region
        conditions.append("#region = :region")
    return dynamo.Filter(" AND ".join(conditions), names, values) if conditions else None


def _position(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in (PK, SK, GSI1_PK, GSI1_SK)}


def count_by_status(tenant: str) -> dict[str, int]:
    """The tenant's agents per status: one Query page per ~10,000 agents (status only)."""
    totals: dict[str, int] = dict.fromkeys(layout.STATUSES, 0)
    for item in dynamo.query_partition_all(
        settings().agents_table, tenant, layout.list_pk(tenant), index=GSI1, projection=["status"]
    ):
        status = str(item.get("status"))
        if status in totals:
            totals[status] += 1
    return totals
