"""The liveness sweep (function `sweeper`, every minute).

It reads, per shard of the liveness index, only the agents whose next change is due
(`due < now`), so its cost follows the agents that change, not all agents, whatever
their intervals.  Each change is one transaction: the agent's conditional update
(on the status and last heartbeat the sweep saw) with its history entry and its
`agent.unhealthy` / `agent.dead` event.  A heartbeat racing the sweep wins; an
overlapping or retried sweep fails the condition and writes nothing, so each change
makes exactly one event.

A dead agent's held work is released at once (common.agents.held), within a budget of
RELEASE_BUDGET items per run over all agents: a dead agent stays in the index, due now,
until its work is all released (then it leaves it), and a deleted agent whose work
exceeded the budget of its DELETE leaves a tombstone there (status `deleted`) that the
sweeper drains and removes.  So a run's cost stays bounded however much dead agents
held, and nothing they held waits for its lease to run out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.agents import held, history, layout
from common.agents.layout import Status
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import ServiceUnavailable
from common.runtime.observability import logger
from common.store import dynamo, transact
from common.store.tables import GSI2, GSI2_PK, GSI2_SK


@dataclass
class SweepSummary:
    marked_unhealthy: int = 0
    marked_dead: int = 0
    lost_races: int = 0  # a heartbeat (or another sweep) changed the agent first
    examined: int = 0
    released: int = 0  # items dead or deleted agents held, released this run
    budget: int = field(default_factory=lambda: held.RELEASE_BUDGET)

    def as_dict(self) -> dict[str, int]:
        return {
            "marked_unhealthy": self.marked_unhealthy,
            "marked_dead": self.marked_dead,
            "lost_races": self.lost_races,
            "examined": self.examined,
            "released": self.released,
        }


def sweep(now: float | None = None) -> SweepSummary:
    """Mark silent agents unhealthy (3 intervals) or dead (20 intervals)."""
    moment = clock.now() if now is None else now
    now_ms = int(moment * 1000)
    summary = SweepSummary()
    for shard in range(settings().agent_shards):
        for item in due_agents(shard, now_ms):
            summary.examined += 1
            if item["status"] in {"dead", "deleted"}:
                drain(item, summary)  # its work was not all released yet
            elif transition(item, target(item, now_ms), summary, moment) == "dead":
                drain(item, summary)
    return summary


def drain(item: Mapping[str, Any], summary: SweepSummary) -> None:
    """Release what a dead or deleted agent holds, within the run's budget; once all is
    released, the agent (or its tombstone) leaves the sweeper's index."""
    tenant, agent_id = str(item["tenant"]), str(item["agent_id"])
    if summary.budget <= 0:
        return  # the next run goes on
    released = held.release(tenant, agent_id, summary.budget, by_sweeper=True)
    summary.released += released
    summary.budget -= released
    if summary.budget <= 0:
        return  # more may be held: it stays due
    table = settings().agents_table
    if item["status"] == "deleted":
        dynamo.delete(table, layout.tombstone_key(tenant, agent_id))
        return
    # A heartbeat meanwhile (recovered) or a delete fails the condition: nothing to remove.
    with contextlib.suppress(dynamo.ConditionFailed):
        dynamo.update(
            table,
            layout.agent_key(tenant, agent_id),
            "REMOVE #g2pk, #g2sk",
            condition="#status = :dead",
            names={"#status": "status", "#g2pk": GSI2_PK, "#g2sk": GSI2_SK},
            values={":dead": "dead"},
        )


def due_agents(shard: int, now_ms: int) -> list[dict[str, Any]]:
    """The shard's agents whose next change is due: one Query page per ~1 MB of them."""
    return list(
        dynamo.query_partition_all(
            settings().agents_table,
            dynamo.CROSS_TENANT,
            layout.liveness_pk(shard),
            index=GSI2,
            sort=dynamo.SortKey.below(layout.cutoff_sk(now_ms)),
        )
    )


def target(item: Mapping[str, Any], now_ms: int) -> Status:
    """Where a due agent goes: a healthy one silent past 20 intervals straight to dead."""
    last = int(item["last_heartbeat_ms"])
    if (
        item["status"] == "healthy"
        and layout.due_ms("unhealthy", last, layout.interval_of(item)) >= now_ms
    ):
        return "unhealthy"
    return "dead"


def transition(
    item: Mapping[str, Any], to: Status, summary: SweepSummary, now: float
) -> Status | None:
    """Make the change; the new status, or None when a heartbeat or a sweep came first."""
    from common.runtime import catalogue as metrics

    tenant, agent_id = str(item["tenant"]), str(item["agent_id"])
    previous = layout.status(str(item["status"]))
    names = {"#status": "status", "#g2pk": GSI2_PK, "#g2sk": GSI2_SK}
    values: dict[str, Any] = {":from": previous, ":to": to, ":seen": item["last_heartbeat_ms"]}
    if to == "dead":
        # Dead agents stay due until their work is released (drain), then leave the
        # sweeper's index: they cost it nothing from then on.
        due = int(now * 1000)
    else:
        due = layout.due_ms(to, int(item["last_heartbeat_ms"]), layout.interval_of(item))
    expression = "SET #status = :to, #g2pk = :g2pk, #g2sk = :g2sk"
    values[":g2pk"] = layout.liveness_pk(layout.shard_of(agent_id))
    values[":g2sk"] = layout.liveness_sk(due, tenant, agent_id)
    update = dynamo.update_op(
        settings().agents_table,
        layout.agent_key(tenant, agent_id),
        expression,
        condition="#status = :from AND last_heartbeat_ms = :seen",
        names=names,
        values=values,
    )
    change = history.change_ops(
        item, previous, to, "sweeper", now, last_heartbeat_at=item.get("last_heartbeat_at")
    )
    reasons = transact.run([update, *change])
    if reasons is not None:
        if not transact.failed_condition(reasons[0]):
            raise ServiceUnavailable(retry_after=1)  # cancelled for no reason we can act on
        summary.lost_races += 1
        return None
    if to == "dead":
        summary.marked_dead += 1
        metrics.count("agents_marked_dead")
    else:
        summary.marked_unhealthy += 1
        metrics.count("agents_marked_unhealthy")
    logger.info(
        "agent liveness changed",
        extra={"tenant": tenant, "agent_id": agent_id, "from": previous, "to": to},
    )
    return to
