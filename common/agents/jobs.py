"""Job outcomes: an agent's ack with an `outcome` puts one `job.succeeded` / `job.failed`
event per acknowledged event in the tenant inbox (source `dockhand.agents`).

Exactly once per acknowledged event and queue, whatever retries: each outcome event is
written in one transaction with a marker item `T#<tenant>#JOB#<queue>#<event_id>` put
only if absent (the idempotency key is the acknowledged event), so a retried ack, or
two racing acks of one event, make one event.  If the ack commits but its outcome
transaction does not (a crash, a throttle), the worker's retry of the ack finds the
event acknowledged already and writes the missing outcome then.  The marker lives as
long as the acknowledged event is retained (DOCKHAND_DELIVERED_RETENTION_DAYS).

Job events are ordinary events written through the triggers area's internal path for
system events (agent alerts use the same one), not the client's event model, which
refuses `dockhand.` sources; subscriptions and queues receive them like any event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.agents.history import EVENT_SOURCE
from common.runtime import catalogue as metrics
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import ServiceUnavailable
from common.runtime.observability import logger
from common.store import dynamo, transact
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers import layout
from common.triggers.inbox.place import Place

EVENT_TYPES = {"succeeded": "job.succeeded", "failed": "job.failed"}
COUNTERS = {"succeeded": "jobs_succeeded", "failed": "jobs_failed"}


def marker_key(tenant: str, queue: str, event_id: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#JOB#{queue}#{event_id}", SK: "JOB"}


def _facts(place: Place, event_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """(event_type, attempts) of each acknowledged event in its queue: one BatchGetItem
    of the queue's items (acknowledged items are retained, so they are still there)."""
    found = dynamo.batch_get(settings().events_table, [place.key(i) for i in event_ids])
    return {
        str(item["event_id"]): {
            "event_type": item.get("event_type"),
            "attempts": int(item.get(layout.ATTEMPTS, 0)),
        }
        for item in found
    }


def publish(
    place: Place,
    *,
    agent: Mapping[str, Any],
    event_ids: Sequence[str],
    outcome: str,
    result: dict[str, Any] | None,
) -> int:
    """Put the outcome event of each acknowledged event (none twice); how many were new."""
    if not event_ids:
        return 0
    facts = _facts(place, event_ids)
    written = 0
    for event_id in event_ids:
        fact = facts.get(event_id, {})
        payload = {
            "event_id": event_id,
            "event_type": fact.get("event_type"),
            "queue": place.name,
            "agent_id": str(agent["agent_id"]),
            "name": str(agent["name"]),
            "attempts": int(fact.get("attempts", 0)),
            "result": result,
        }
        written += _write_once(place.tenant, place.name, event_id, outcome, payload)
    if written and outcome == "succeeded":
        metrics.count("jobs_succeeded", written)
    elif written:
        metrics.count("jobs_failed", written)
    return written


def _write_once(
    tenant: str, queue: str, event_id: str, outcome: str, payload: dict[str, Any]
) -> int:
    """One outcome event with its marker and day counter in one transaction; 0 when the
    marker shows the event's outcome is out already."""
    from common.triggers import events  # the triggers area builds inbox events

    now = clock.now()
    retention = settings().delivered_retention_days * 86_400
    marker = {**marker_key(tenant, queue, event_id), TTL_ATTRIBUTE: int(now) + retention}
    job_id, ops = events.system_event_ops(
        tenant,
        EVENT_TYPES[outcome],
        EVENT_SOURCE,
        payload,
        now,
        also_count={COUNTERS[outcome]: 1},
    )
    guard = dynamo.put_op(
        settings().events_table,
        marker,
        condition="attribute_not_exists(#pk) OR #exp < :now",
        names={"#pk": PK, "#exp": TTL_ATTRIBUTE},
        values={":now": int(now)},
    )
    reasons = transact.run([guard, *ops])
    if reasons is None:
        logger.info(
            "job outcome published",
            extra={"tenant": tenant, "event_id": event_id, "job_event_id": job_id},
        )
        return 1
    if transact.failed_condition(reasons[0]):
        return 0  # published by an earlier ack of this event
    raise ServiceUnavailable(retry_after=1)
