"""Filling named queues from the events table's stream (the same consumer as push
dispatch), and removing a deleted queue's entries.

Per new event (an INSERT of an event item) and per queue of its tenant that wants it
(created before it, type matching), one transaction: a conditional put of the entry
keyed by (queue, event) — a redelivered stream record finds it there and adds nothing,
so each queue holds each event exactly once — the queue's pending gauge, and a check
that the queue still exists (a deleted queue gets no more entries).  `POST /events`
is not involved: it stays one round trip.

A deleted queue's clean-up record (written with the delete) comes through the stream
too: each record removes at most CLEAN_UP_PAGE entries per pool and quarantine shard,
then touches the record (its MODIFY is the next step) or, once a pass after another
step finds nothing left, deletes it.  Every step is bounded and idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.runtime import clock
from common.runtime.config import settings
from common.runtime.observability import logger
from common.store import ddb, dynamo, transact
from common.store.tables import PK, SK
from common.triggers import layout, queues
from common.triggers.inbox.place import Place

CLEAN_UP_PAGE = 100


def fill_queues(records: Sequence[Mapping[str, Any]]) -> int:
    """Handle records in order; returns how many were handled (all, or up to the first
    that failed: the stream is retried from that one)."""
    cache: dict[str, list[queues.Queue]] = {}
    for position, record in enumerate(records):
        try:
            image = _new_image(record)
            if image is None:
                continue
            if image.get(SK) == layout.EVENT_SK:
                _fan_out(image, cache)
            elif image.get(SK) == layout.CLEANUP_SK:
                clean_up_step(image)
        except Exception:
            logger.exception("queue fan-out failed; the stream retries from this record")
            return position
    return len(records)


def _new_image(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item an INSERT (or, for a clean-up record, a MODIFY) wrote, else None."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    raw = (record.get("dynamodb") or {}).get("NewImage")
    if not raw:
        return None
    item = ddb.deserialize(raw)
    if not str(item.get(PK, "")).startswith("T#"):
        return None
    if item.get(SK) == layout.EVENT_SK and record.get("eventName") != "INSERT":
        return None  # a lease or an acknowledgement of the tenant inbox: not new
    return item


def _fan_out(event: Mapping[str, Any], cache: dict[str, list[queues.Queue]]) -> None:
    tenant = str(event["tenant"])
    if tenant not in cache:
        cache[tenant] = queues.of_tenant(tenant)
    for queue in cache[tenant]:
        if queue.wants(str(event["event_type"]), str(event["received_at"])):
            _add_entry(queue, event)


def _entry(place: Place, event: Mapping[str, Any]) -> dict[str, Any]:
    """The queue's copy of the event, pending and available from its receipt."""
    event_id = str(event["event_id"])
    shard = layout.shard_of(str(event[layout.HOME_PK]))
    home, home_type = place.pool(shard), place.type_pool(str(event["event_type"]), shard)
    received_ms = layout.millis(clock.parse_iso(str(event["received_at"])).timestamp())
    return {
        **place.key(event_id),
        layout.POOL_PK: home,
        layout.POOL_SK: event_id,
        layout.TYPE_POOL_PK: home_type,
        layout.TYPE_POOL_SK: event_id,
        layout.VISIBLE_SK: layout.time_key(received_ms, event_id),
        layout.HOME_PK: home,
        layout.HOME_TYPE_PK: home_type,
        layout.ATTEMPTS: 0,
        layout.STATUS: "pending",
        layout.QUEUE_NAME: place.name,
        layout.QUEUE_ID: place.queue_id,
        **{
            name: event.get(name)
            for name in ("event_id", "tenant", "event_type", "payload", "source", "occurred_at")
        },
        "received_at": event["received_at"],
    }


def _add_entry(queue: queues.Queue, event: Mapping[str, Any]) -> int:
    """1 when the entry was added, 0 when it was there already or the queue is gone."""
    place = queue.place
    table = settings().events_table
    reasons = transact.run_named(
        {
            "entry": dynamo.put_op(
                table,
                _entry(place, event),
                condition="attribute_not_exists(#pk)",
                names={"#pk": PK},
            ),
            "gauge": place.gauge_update(+1),
            "queue": dynamo.check_op(
                table,
                {PK: layout.queues_pk(queue.tenant), SK: layout.QUEUE_SK_PREFIX + queue.name},
                "#qid = :qid",
                names={"#qid": layout.QUEUE_ID},
                values={":qid": queue.queue_id},
            ),
        }
    )
    if reasons is None:
        return 1
    if transact.failed_condition(reasons["entry"]) or transact.failed_condition(reasons["queue"]):
        return 0
    raise RuntimeError(f"queue entry not written: {sorted(transact.codes(reasons.values()))}")


# ---------------------------------------------------------------- clean-up


def clean_up_step(record: Mapping[str, Any]) -> int:
    """Remove up to CLEAN_UP_PAGE of a deleted queue's entries per shard and partition;
    returns how many.  Touches the record to be called again, or deletes it when done."""
    place = Place(str(record["tenant"]), "", str(record[layout.QUEUE_ID]))
    table = settings().events_table
    keys: list[dict[str, Any]] = []
    for shard in range(settings().inbox_shards):
        for index, pk in (
            (layout.POOL_INDEX, place.pool(shard)),
            (layout.QUARANTINE_INDEX, place.quarantine(shard)),
        ):
            page = dynamo.query_partition(table, place.tenant, pk, index=index, limit=CLEAN_UP_PAGE)
            keys += [{PK: item[PK], SK: item[SK]} for item in page.items]
    record_key = {PK: record[PK], SK: record[SK]}
    # An entry written just before the delete may reach the indexes a moment late:
    # finish only after an empty pass that follows another step (one more stream trip).
    if keys or not record.get("checked_empty"):
        dynamo.batch_delete(table, keys)
        dynamo.update(
            table,
            record_key,
            "SET #checked = :checked ADD #round :one",
            names={"#round": "round", "#checked": "checked_empty"},
            values={":one": 1, ":checked": not keys},
        )
        return len(keys)
    gauges = dynamo.query_partition(settings().stats_table, place.tenant, place.gauge_key(0)[PK])
    dynamo.batch_delete(settings().stats_table, [{PK: g[PK], SK: g[SK]} for g in gauges.items])
    dynamo.delete(table, record_key)
    logger.info("queue entries removed", extra={"queue_id": place.queue_id})
    return 0


def sequences(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The first record's sequence number (where the stream is read again), or []."""
    return [str((record.get("dynamodb") or {}).get("SequenceNumber", "")) for record in records[:1]]
