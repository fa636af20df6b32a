"""Machine agents: registration, signed heartbeats, listing, and the liveness sweep.

Identity without a stored secret: an agent's id is `<ULID>.<tenant>` and its
secret is `HMAC(derived_key("agent"), agent_id)`.  The id alone therefore names
the tenant (the heartbeat carries no API key) and the tenant part cannot be
forged, because the signature check needs the secret derived from the whole id.
A heartbeat is verified in memory first and then costs exactly one DynamoDB
round trip: a TransactWriteItems of the agent update (conditional on the agent
existing and on `last_ts < :ts`, which refuses replays without a read) and the
tenant's daily `heartbeats` counter.

Liveness lives in the sparse index gsi2: a live agent carries
`ST#<status>#<shard>` / `<last heartbeat epoch ms, 15 digits>#<tenant>#<agent_id>`,
so the sweeper asks each shard only for agents whose last heartbeat is older than a
cutoff; dead agents leave the index and cost the sweeper nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, ServiceUnavailable, Unauthorized
from common.runtime.observability import logger
from common.store import counters, cursor, dynamo, transact
from common.store.secrets import derived_key
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK

Status = Literal["healthy", "unhealthy", "dead"]
STATUSES: tuple[Status, ...] = ("healthy", "unhealthy", "dead")
UNHEALTHY_AFTER_INTERVALS = 3
DEAD_AFTER_SECONDS = 600
TIMESTAMP_TOLERANCE_SECONDS = 300
SIGNATURE_VERSION = "v1"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

_ULID_LENGTH = 26
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]{64})")
_TENANT = re.compile(SLUG_PATTERN)
_MS_DIGITS = 15  # epoch milliseconds stay 13 digits until the year 2286; 15 leaves room


# ---------------------------------------------------------------- request bodies

Percent = Annotated[float, Field(ge=0, le=100, strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10**15, strict=True)]
LabelKey = Annotated[str, Field(min_length=1, max_length=64)]
LabelValue = Annotated[str, Field(max_length=256)]


class RegisterAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLUG_PATTERN)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)


class HeartbeatFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_percent: Percent
    memory_percent: Percent
    disk_percent: Percent
    jobs_queued: Count
    jobs_completed: Count
    uptime_seconds: Count
    version: str | None = Field(default=None, max_length=128)


# ---------------------------------------------------------------- ids, secrets, signatures


def new_agent_id(tenant: str) -> str:
    """`<ULID>.<tenant>`: sorts by creation time and names its tenant."""
    return f"{ids.new_id()}.{tenant}"


def tenant_of(agent_id: str) -> str | None:
    """The tenant an agent id names, or None if it is not a well-formed agent id."""
    if len(agent_id) <= _ULID_LENGTH + 1 or agent_id[_ULID_LENGTH] != ".":
        return None
    if not ids.is_valid_id(agent_id[:_ULID_LENGTH]):
        return None
    tenant = agent_id[_ULID_LENGTH + 1 :]
    return tenant if _TENANT.fullmatch(tenant) else None


def agent_secret(agent_id: str) -> str:
    """The agent's signing secret, derived (never stored): hex HMAC of the id."""
    return hmac.new(derived_key("agent"), agent_id.encode(), hashlib.sha256).hexdigest()


def heartbeat_path(agent_id: str) -> str:
    return f"/agents/{agent_id}/heartbeat"


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The `X-Agent-Signature` value for one request."""
    body_hash = hashlib.sha256(body).hexdigest()
    message = f"{timestamp}\n{method.upper()}\n{path}\n{body_hash}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


@dataclass(frozen=True)
class VerifiedHeartbeat:
    agent_id: str
    tenant: str
    timestamp: int


def _refuse(reason: str, agent_id: str) -> Unauthorized:
    """The one 401 every failed check gives; only the log says which check failed."""
    from common.runtime import catalogue as metrics

    metrics.count("heartbeats_refused")
    logger.info("heartbeat refused", extra={"reason": reason, "agent_id": agent_id[:80]})
    return Unauthorized()


def verify_signature(
    agent_id: str,
    method: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
) -> VerifiedHeartbeat:
    """Check headers, clock skew and signature in memory; 401 on any failure."""
    if timestamp_header is None or not _TIMESTAMP.fullmatch(timestamp_header.strip()):
        raise _refuse("bad_timestamp_header", agent_id)
    signature = _SIGNATURE.fullmatch((signature_header or "").strip())
    if signature is None:
        raise _refuse("bad_signature_header", agent_id)
    timestamp = int(timestamp_header.strip())
    if abs(clock.now() - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        raise _refuse("timestamp_out_of_window", agent_id)
    tenant = tenant_of(agent_id)
    if tenant is None:
        raise _refuse("malformed_agent_id", agent_id)
    path = heartbeat_path(agent_id)
    expected = sign(agent_secret(agent_id), timestamp_header.strip(), method, path, body)
    offered = f"{SIGNATURE_VERSION}={signature.group(1).lower()}"
    if not hmac.compare_digest(expected.encode(), offered.encode()):
        raise _refuse("bad_signature", agent_id)
    return VerifiedHeartbeat(agent_id=agent_id, tenant=tenant, timestamp=timestamp)


# ---------------------------------------------------------------- keys and views


def _agent_key(tenant: str, agent_id: str) -> dict[str, Any]:
    return {PK: f"T#{tenant}#A#{agent_id}", SK: "A"}


def _list_pk(tenant: str) -> str:
    return f"T#{tenant}#AGENTS"


def shard_of(agent_id: str) -> int:
    digest = hashlib.sha256(agent_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % settings().agent_shards


def liveness_pk(status: Status, shard: int | str) -> str:
    return f"ST#{status}#{shard}"


def liveness_sk(heartbeat_ms: int, tenant: str, agent_id: str) -> str:
    return f"{heartbeat_ms:0{_MS_DIGITS}d}#{tenant}#{agent_id}"


def _cutoff_sk(cutoff_ms: int) -> str:
    # Every key "<ms>#..." with ms < cutoff_ms sorts before the bare padded cutoff.
    return f"{cutoff_ms:0{_MS_DIGITS}d}"


def public_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """What clients see of an agent: never the secret (which is not stored anyway)."""
    return {
        "agent_id": item["agent_id"],
        "name": item["name"],
        "region": item.get("region"),
        "labels": item.get("labels") or {},
        "status": item["status"],
        "heartbeat_interval_seconds": settings().heartbeat_interval_seconds,
        "created_at": item["created_at"],
        "last_heartbeat_at": item.get("last_heartbeat_at"),
        "last_heartbeat": item.get("figures"),
    }


# ---------------------------------------------------------------- registration


def register(tenant: str, body: RegisterAgent) -> dict[str, Any]:
    """Store a new agent and claim its name in one transaction; 409 if the name is taken."""
    agent_id = new_agent_id(tenant)
    now = clock.now()
    now_ms = int(now * 1000)
    created_at = clock.iso(now)
    shard = shard_of(agent_id)
    # A new agent is healthy, and its liveness clock starts at registration: it has
    # the same 3 intervals to send its first heartbeat as any agent has between two.
    agent = {
        PK: f"T#{tenant}#A#{agent_id}",
        SK: "A",
        GSI1_PK: _list_pk(tenant),
        GSI1_SK: body.name,
        GSI2_PK: liveness_pk("healthy", shard),
        GSI2_SK: liveness_sk(now_ms, tenant, agent_id),
        "agent_id": agent_id,
        "tenant": tenant,
        "name": body.name,
        "region": body.region,
        "labels": body.labels,
        "status": "healthy",
        "created_at": created_at,
        "last_ts": 0,
        "last_heartbeat_ms": now_ms,
    }
    claim = {PK: f"T#{tenant}#AN#{body.name}", SK: "AN", "agent_id": agent_id}
    table = settings().agents_table
    items = [
        dynamo.put_op(table, agent, condition="attribute_not_exists(pk)"),
        dynamo.put_op(table, claim, condition="attribute_not_exists(pk)"),
    ]
    if _transact(items) is not None:
        raise Conflict(f"An agent named {body.name!r} already exists.")
    view = public_view(agent)
    del view["status"], view["last_heartbeat_at"], view["last_heartbeat"]
    return {**view, "secret": agent_secret(agent_id)}


def _transact(items: list[dict[str, Any]]) -> int | None:
    """Run a transaction (common.store.transact); the index of the item whose condition
    failed, else None.  The loser of two racing heartbeats fails its condition cleanly."""
    reasons = transact.run(items)
    if reasons is None:
        return None
    failed = [i for i, reason in enumerate(reasons) if transact.failed_condition(reason)]
    if not failed:
        raise ServiceUnavailable(retry_after=1)  # cancelled for no reason we can act on
    return failed[0]


# ---------------------------------------------------------------- heartbeats


def record_heartbeat(verified: VerifiedHeartbeat, figures: HeartbeatFigures) -> None:
    """One round trip: update the agent (replay-safe) and count the heartbeat; 401 if refused."""
    from common.runtime import catalogue as metrics

    now = clock.now()
    now_ms = int(now * 1000)
    tenant, agent_id = verified.tenant, verified.agent_id
    update = dynamo.update_op(
        settings().agents_table,
        _agent_key(tenant, agent_id),
        "SET #status = :healthy, last_ts = :ts, last_heartbeat_ms = :ms, "
        "last_heartbeat_at = :at, figures = :figures, #g2pk = :g2pk, #g2sk = :g2sk",
        # Unknown agents fail attribute_exists; replays fail last_ts < :ts.  Both in
        # the write itself, so two racing copies of one heartbeat store one.
        condition="attribute_exists(pk) AND last_ts < :ts",
        names={"#status": "status", "#g2pk": GSI2_PK, "#g2sk": GSI2_SK},
        values={
            ":healthy": "healthy",
            ":ts": verified.timestamp,
            ":ms": now_ms,
            ":at": clock.iso(now),
            ":figures": figures.model_dump(exclude_none=True),
            ":g2pk": liveness_pk("healthy", shard_of(agent_id)),
            ":g2sk": liveness_sk(now_ms, tenant, agent_id),
        },
    )
    counted = counters.update_item(tenant, {"heartbeats": 1}, now)
    if _transact([update, counted]) is not None:
        raise _refuse("unknown_agent_or_replay", agent_id)
    metrics.count("heartbeats_accepted")


# ---------------------------------------------------------------- reads


def get_agent(tenant: str, agent_id: str) -> dict[str, Any]:
    """The tenant's agent; another tenant's id answers exactly like an unknown one."""
    if tenant_of(agent_id) != tenant:
        raise NotFound("No such agent.")
    item = dynamo.get(settings().agents_table, _agent_key(tenant, agent_id))
    if item is None:
        raise NotFound("No such agent.")
    return public_view(item)


class AgentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    region: str | None = Field(default=None, min_length=1, max_length=64)
    limit: str | None = None
    cursor: str | None = None


# One list page reads at most this many agents before it answers (with a cursor),
# so a filter matching few agents cannot make one request arbitrarily expensive.
MAX_EXAMINED_PER_PAGE = 1000


def list_agents(
    tenant: str, query: AgentQuery, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's agents by name, optionally filtered; (items, next_cursor)."""
    bound = {"list": "agents", "status": query.status, "region": query.region}
    names = {"#pk": GSI1_PK}
    values: dict[str, Any] = {":pk": _list_pk(tenant)}
    filters = _filters(query, names, values)
    start = cursor.decode(query.cursor, tenant, bound) if query.cursor else None
    found: list[dict[str, Any]] = []
    examined = 0
    while True:
        # Ask for one more than needed: a full page then knows whether more exist.  Limit
        # caps the items a Query evaluates before filtering, so `examined` counts them.
        request_limit = limit + 1 - len(found)
        page = dynamo.query(
            settings().agents_table,
            "#pk = :pk",
            index=GSI1,
            names=names,
            values=values,
            limit=request_limit,
            start=start,
            filter_expression=filters,
        )
        examined += request_limit
        found.extend(page.items)
        if len(found) > limit:
            kept = found[:limit]
            return [public_view(i) for i in kept], cursor.encode(tenant, bound, _position(kept[-1]))
        if page.last_key is None:
            return [public_view(i) for i in found], None
        start = page.last_key
        if examined >= MAX_EXAMINED_PER_PAGE:
            return [public_view(i) for i in found], cursor.encode(tenant, bound, page.last_key)


def _filters(query: AgentQuery, names: dict[str, str], values: dict[str, Any]) -> str | None:
    conditions = []
    if query.status:
        names["#status"] = "status"
        values[":status"] = query.status
        conditions.append("#status = :status")
    if query.region:
        names["#region"] = "region"
        values[":region"] = query.region
        conditions.append("#region = :region")
    return " AND ".join(conditions) or None


def _position(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in (PK, SK, GSI1_PK, GSI1_SK)}


def count_by_status(tenant: str) -> dict[str, int]:
    """The tenant's agents per status: one Query page per ~10,000 agents (status only)."""
    totals: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for item in dynamo.query_all(
        settings().agents_table,
        "#pk = :pk",
        index=GSI1,
        projection="#status",
        names={"#pk": GSI1_PK, "#status": "status"},
        values={":pk": _list_pk(tenant)},
    ):
        status = str(item.get("status"))
        if status in totals:
            totals[status] += 1
    return totals


# ---------------------------------------------------------------- the sweeper


@dataclass
class SweepSummary:
    marked_unhealthy: int = 0
    marked_dead: int = 0
    lost_races: int = 0  # a heartbeat (or another sweep) changed the agent first
    examined: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "marked_unhealthy": self.marked_unhealthy,
            "marked_dead": self.marked_dead,
            "lost_races": self.lost_races,
            "examined": self.examined,
        }


def sweep(now: float | None = None) -> SweepSummary:
    """Mark silent agents unhealthy (3 intervals) or dead (10 minutes).

    Reads only agents past a cutoff, per shard and status, so the cost follows the
    agents that change state.  Each change is conditional on the status and last
    heartbeat the sweep saw: a heartbeat racing the sweep wins, and a retried sweep
    finds nothing left to do.
    """
    now_ms = int((clock.now() if now is None else now) * 1000)
    unhealthy_cutoff = (
        now_ms - UNHEALTHY_AFTER_INTERVALS * settings().heartbeat_interval_seconds * 1000
    )
    dead_cutoff = now_ms - DEAD_AFTER_SECONDS * 1000
    summary = SweepSummary()
    for shard in range(settings().agent_shards):
        for item in _stale(liveness_pk("healthy", shard), unhealthy_cutoff):
            summary.examined += 1
            silent_too_long = int(item["last_heartbeat_ms"]) < dead_cutoff
            _transition(item, "dead" if silent_too_long else "unhealthy", summary)
        for item in _stale(liveness_pk("unhealthy", shard), dead_cutoff):
            summary.examined += 1
            _transition(item, "dead", summary)
    return summary


def _stale(partition: str, cutoff_ms: int) -> list[dict[str, Any]]:
    return list(
        dynamo.query_all(
            settings().agents_table,
            "#pk = :pk AND #sk < :cutoff",
            index=GSI2,
            names={"#pk": GSI2_PK, "#sk": GSI2_SK},
            values={":pk": partition, ":cutoff": _cutoff_sk(cutoff_ms)},
        )
    )


def _transition(item: Mapping[str, Any], target: Status, summary: SweepSummary) -> None:
    from common.runtime import catalogue as metrics

    tenant, agent_id = str(item["tenant"]), str(item["agent_id"])
    values: dict[str, Any] = {
        ":from": item["status"],
        ":to": target,
        ":seen": item["last_heartbeat_ms"],
    }
    names = {"#status": "status", "#g2pk": GSI2_PK}
    if target == "dead":
        # Dead agents leave the sweeper's index: they cost it nothing from now on.
        expression = "SET #status = :to REMOVE #g2pk, #g2sk"
        names["#g2sk"] = GSI2_SK
    else:
        # Same shard and sort key, other status: only the partition of the index moves.
        expression = "SET #status = :to, #g2pk = :g2pk"
        shard = str(item[GSI2_PK]).rsplit("#", 1)[1]
        values[":g2pk"] = liveness_pk(target, shard)
    try:
        dynamo.update(
            settings().agents_table,
            _agent_key(tenant, agent_id),
            expression,
            condition="#status = :from AND last_heartbeat_ms = :seen",
            names=names,
            values=values,
        )
    except dynamo.ConditionFailed:
        summary.lost_races += 1
        return
    if target == "dead":
        summary.marked_dead += 1
        metrics.count("agents_marked_dead")
    else:
        summary.marked_unhealthy += 1
        metrics.count("agents_marked_unhealthy")
    logger.info(
        "agent liveness changed",
        extra={"tenant": tenant, "agent_id": agent_id, "from": item["status"], "to": target},
    )


def interval_seconds() -> int:
    return settings().heartbeat_interval_seconds
