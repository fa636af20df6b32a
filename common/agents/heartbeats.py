"""Signed heartbeats: authenticate against the agent's secret generation, record the
figures (replay-safe), and turn an unhealthy or dead agent healthy again.

A heartbeat is two DynamoDB round trips: a consistent GetItem of the agent (its
secret generation, interval and status live there) and one TransactWriteItems.  The
write is conditional on the status, generation and that the timestamp is newer than
the last accepted one (`last_ts_ms`, milliseconds), so a replay or a racing copy
stores nothing; a recovery adds its history entry and its
`agent.recovered` event to the same transaction.  If the agent changed between the
read and the write (a sweep, a rotation, another heartbeat) the heartbeat reads again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.agents import held, history, layout
from common.agents.signing import SignedRequest, refuse
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import ServiceUnavailable
from common.runtime.models import INTEGRAL
from common.store import counters, dynamo, transact
from common.store.tables import GSI2_PK, GSI2_SK

_WRITE_ATTEMPTS = 3
WORKER_MARK = "worker"  # set on the agent item by its first lease (common.agents.work)

Percent = Annotated[float, Field(ge=0, le=100, strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10**15, strict=True), INTEGRAL]  # 5.0 is an integer


class HeartbeatFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_percent: Percent
    memory_percent: Percent
    disk_percent: Percent
    jobs_queued: Count
    jobs_completed: Count
    uptime_seconds: Count
    version: str | None = Field(default=None, max_length=128)


@with_config(ConfigDict(extra="forbid", title="HeartbeatAccepted"))
class HeartbeatAcceptedView(TypedDict):
    status: Literal["healthy"]
    next_check_interval: int  # the agent's heartbeat interval, in seconds


def _read(signed: SignedRequest) -> dict[str, Any]:
    agent = dynamo.get(settings().agents_table, layout.agent_key(signed.tenant, signed.agent_id))
    if agent is None:  # never registered, or deleted
        raise refuse("unknown_agent", signed.agent_id)
    return agent


def valid_generations(agent: Mapping[str, Any], now_ms: int) -> list[int]:
    """The secret generations a heartbeat may be signed with now: the current one and,
    for 10 minutes after a rotation, the previous one."""
    generations = [int(agent.get("generation") or 0)]
    previous = agent.get("previous_generation")
    if previous is not None and now_ms < int(agent.get("previous_valid_until_ms") or 0):
        generations.append(int(previous))
    return generations


def authenticate(signed: SignedRequest) -> dict[str, Any]:
    """The agent the heartbeat is signed for; 401 for an unknown agent or a bad signature."""
    agent = _read(signed)
    now_ms = int(clock.now() * 1000)
    if not any(signed.signed_by(g) for g in valid_generations(agent, now_ms)):
        raise refuse("bad_signature", signed.agent_id)
    return agent


def record(
    signed: SignedRequest, agent: Mapping[str, Any], figures: HeartbeatFigures
) -> HeartbeatAcceptedView:
    """Store the heartbeat; 401 for a replay (a timestamp not newer than the last one)."""
    from common.runtime import catalogue as metrics

    for attempt in range(_WRITE_ATTEMPTS):
        if attempt:
            agent = authenticate(signed)  # it changed under us: judge it as it is now
        if last_accepted_ms(agent) >= signed.timestamp_ms:
            raise refuse("replay", signed.agent_id)
        now = clock.now()
        previous = str(agent["status"])
        reasons = transact.run(_write_items(signed, agent, figures, now))
        if reasons is None:
            metrics.count("heartbeats_accepted")
            if previous != "healthy":
                metrics.count("agents_recovered")
            # A live agent keeps its work: each lease it holds runs its own
            # lease_seconds from now (common.agents.held).  Agents that never leased
            # work (no `worker` mark) skip the holder Query.
            if agent.get(WORKER_MARK):
                held.extend(signed.tenant, signed.agent_id, now)
            return {"status": "healthy", "next_check_interval": layout.interval_of(agent)}
        if not transact.failed_condition(reasons[0]):
            raise ServiceUnavailable(retry_after=1)
    raise ServiceUnavailable(retry_after=1)


def last_accepted_ms(agent: Mapping[str, Any]) -> int:
    """The last accepted heartbeat's timestamp in ms; agents whose last heartbeat
    predates millisecond timestamps kept whole seconds in `last_ts`."""
    if "last_ts_ms" in agent:
        return int(agent["last_ts_ms"])
    return int(agent.get("last_ts") or 0) * 1000


def _newer_than_last(timestamp_ms: int, values: dict[str, Any]) -> str:
    """The condition "newer than the last accepted timestamp", in either unit: a
    seconds value S stands for S * 1000 ms, and S * 1000 < T exactly when S < ceil(T / 1000)."""
    values[":ts_ms"] = timestamp_ms
    values[":ts_s"] = -(-timestamp_ms // 1000)
    return "(last_ts_ms < :ts_ms OR (attribute_not_exists(last_ts_ms) AND last_ts < :ts_s))"


def _write_items(
    signed: SignedRequest, agent: Mapping[str, Any], figures: HeartbeatFigures, now: float
) -> list[dict[str, Any]]:
    tenant, agent_id = signed.tenant, signed.agent_id
    now_ms = int(now * 1000)
    previous = str(agent["status"])
    due = layout.due_ms("healthy", now_ms, layout.interval_of(agent))
    names = {"#status": "status", "#g2pk": GSI2_PK, "#g2sk": GSI2_SK, "#gen": "generation"}
    values: dict[str, Any] = {
        ":healthy": "healthy",
        ":seen": previous,
        ":ms": now_ms,
        ":at": clock.iso(now),
        ":figures": figures.model_dump(exclude_none=True),
        ":g2pk": layout.liveness_pk(layout.shard_of(agent_id)),
        ":g2sk": layout.liveness_sk(due, tenant, agent_id),
    }
    if "generation" in agent:
        generation_unchanged = "#gen = :gen"
        values[":gen"] = agent["generation"]
    else:  # registered before rotation existed
        generation_unchanged = "attribute_not_exists(#gen)"
    newer = _newer_than_last(signed.timestamp_ms, values)
    update = dynamo.update_op(
        settings().agents_table,
        layout.agent_key(tenant, agent_id),
        "SET #status = :healthy, last_ts_ms = :ts_ms, last_heartbeat_ms = :ms, "
        "last_heartbeat_at = :at, figures = :figures, #g2pk = :g2pk, #g2sk = :g2sk",
        # A missing (deleted) agent fails `#status = :seen`; a replay or a racing copy
        # fails `newer`; a sweep or a rotation since the read fails the rest.
        condition=f"#status = :seen AND {newer} AND {generation_unchanged}",
        names=names,
        values=values,
    )
    if previous == "healthy":
        return [update, counters.update_item(tenant, {"heartbeats": 1}, now)]
    change = history.change_ops(
        agent,
        layout.status(previous),
        "healthy",
        "heartbeat",
        now,
        last_heartbeat_at=clock.iso(now),
        also_count={"heartbeats": 1},
    )
    return [update, *change]
