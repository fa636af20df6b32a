"""Dispatch: the events table's stream → one delivery message per (new event,
matching active subscription created before it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.runtime import catalogue
from common.runtime.observability import logger
from common.store import ddb
from common.store.tables import PK, SK
from common.triggers import subscriptions as subs
from common.triggers.delivery import messages
from common.triggers.delivery.messages import Delivery

EVENT_SK = "E"


@dataclass(frozen=True)
class NewEvent:
    tenant: str
    event_id: str
    event_type: str
    received_at: str


def event_of_record(record: Mapping[str, Any]) -> NewEvent | None:
    """The new event a stream record announces, or None (not an INSERT of an event:
    dedup/idempotency records, acknowledgements, TTL deletions)."""
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return None
    item = ddb.deserialize(image)
    if item.get(SK) != EVENT_SK or not str(item.get(PK, "")).startswith("T#"):
        return None
    try:
        return NewEvent(
            tenant=str(item["tenant"]),
            event_id=str(item["event_id"]),
            event_type=str(item["event_type"]),
            received_at=str(item["received_at"]),
        )
    except KeyError:
        return None


def dispatch_records(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Send one message per (new event, matching active subscription created before
    it); returns the sequence number of the first record that failed (the stream is
    retried from there), or []."""
    cache: dict[str, list[subs.Subscription]] = {}
    sent = 0
    for record in records:
        try:
            new = event_of_record(record)
            if new is None:
                continue
            if new.tenant not in cache:
                cache[new.tenant] = [
                    s for s in subs.of_tenant(new.tenant) if s.status == subs.ACTIVE
                ]
            targets = [
                Delivery(new.tenant, s.id, new.event_id)
                for s in cache[new.tenant]
                if s.created_at <= new.received_at and subs.matches(s.event_types, new.event_type)
            ]
            messages.send([(target.body(), 0) for target in targets])
            sent += len(targets)
        except Exception:
            logger.exception("dispatch failed; the stream retries from this record")
            catalogue.count("deliveries_dispatched", sent)
            return [str((record.get("dynamodb") or {}).get("SequenceNumber", ""))]
    catalogue.count("deliveries_dispatched", sent)
    return []
