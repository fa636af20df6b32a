"""Triggers: creating and reading events.

Data layout (common.triggers.layout): an event item, pk `T#<tenant>#E#<event_id>`,
sk `E`, is also the tenant inbox's item: while pending it sits in the inbox pools
(common.triggers.inbox), and it carries the inbox's lease state.  Acknowledging
removes it from the pools, so they hold pending events only.  Dedup and idempotency
records: common.triggers.dedup.  The pending gauge (+1 in the create transaction)
is the inbox place's (common.triggers.inbox.place).

The payload is stored as its JSON text: it round-trips exactly (no Decimal
conversion, no DynamoDB nesting limit) and it is never queried by content.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, ServiceUnavailable
from common.runtime.models import Id, Time
from common.runtime.observability import logger
from common.store import counters, dynamo, transact
from common.store.tables import PK, SK
from common.triggers import dedup, layout
from common.triggers.inbox import place, state
from common.triggers.inbox.state import PENDING, EventStatus
from common.triggers.layout import EVENT_SK, event_pk, millis, time_key, timeline_pk

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# Cancellation reasons meaning "busy": the client should retry (503), nothing was written.


# ---------------------------------------------------------------- request models


# A string the validator below checks; the OpenAPI document calls it a date-time.
Timestamp = Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]


class NewEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    payload: dict[str, Any]
    source: Annotated[StrictStr, Field(max_length=255)] | None = None
    occurred_at: Timestamp | None = None

    @field_validator("occurred_at")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        """Accept any RFC 3339 offset; store the contract's UTC millisecond form."""
        if value is None:
            return None
        if not _RFC3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 timestamp, e.g. 2024-05-01T12:00:00Z")
        try:
            return clock.iso(clock.parse_iso(value))
        except ValueError:
            raise ValueError("must be a valid RFC 3339 timestamp") from None


# What `create_event` did: stored a new event, found a content duplicate, or replayed
# the first answer to an Idempotency-Key.  The handler picks the HTTP status.
CREATED, DUPLICATE, REPLAY = dedup.CREATED, dedup.DUPLICATE, "replay"


# ---------------------------------------------------------------- response views


@with_config(ConfigDict(extra="forbid", title="EventCreated"))
class EventCreatedView(TypedDict):
    """POST /events: the stored event (or, for a duplicate, the original one)."""

    event_id: Id
    event_type: str
    source: str | None
    received_at: Time
    status: Literal["pending"]
    duplicate: bool


@with_config(ConfigDict(extra="forbid"))
class PublicEvent(TypedDict):
    """The fields every view of an event shares (not a response of its own)."""

    event_id: Id
    event_type: str
    payload: dict[str, Any]
    source: str | None
    occurred_at: Time | None
    received_at: Time


@with_config(ConfigDict(extra="forbid", title="Event"))
class EventView(PublicEvent):
    status: EventStatus
    delivered_at: Time | None


@dataclass(frozen=True)
class Outcome:
    """What `POST /events` did (`kind`) and the body it answers with.  For a replay,
    `replayed` is the kind of the first answer (CREATED or DUPLICATE)."""

    kind: str
    body: EventCreatedView
    replayed: str | None = None


# ---------------------------------------------------------------- keys


def _event_key(tenant: str, event_id: str) -> dict[str, Any]:
    return {PK: event_pk(tenant, event_id), SK: EVENT_SK}


# ---------------------------------------------------------------- create


def create_event(tenant: str, new: NewEvent, idempotency_key: str | None) -> Outcome:
    """Store a new event in one transaction, or answer as the original did.

    One round trip for a new event; a duplicate (content or idempotency key) costs the
    cancelled transaction plus the `events_duplicate` counter update.
    """
    now = clock.now()
    event_id = ids.new_id()
    received_at = clock.iso(now)
    body = _created_body(event_id, new, received_at)
    fingerprint = dedup.content_fingerprint(new.event_type, new.payload, new.source)
    request_fingerprint = dedup.sha256_hex(dedup.canonical_json(new.model_dump()))
    items = {
        "event": _event_put(tenant, event_id, new, now),
        "dedup": dedup.dedup_put(tenant, fingerprint, body, now),
    }
    if idempotency_key is not None:
        stored = dedup.StoredResponse(CREATED, body, request_fingerprint)
        items["idempotency"] = dedup.idempotency_put(tenant, idempotency_key, stored, now)
    items["counters"] = counters.update_item(tenant, {"events_received": 1}, now)
    items["gauge"] = place.inbox(tenant).gauge_update(+1)

    reasons = transact.run_named(items)
    if reasons is None:
        catalogue.count("events_received")
        return Outcome(CREATED, body)
    if idempotency_key is not None and transact.failed_condition(reasons["idempotency"]):
        record = _record(
            reasons["idempotency"],
            dedup.idempotency_pk(tenant, idempotency_key),
            dedup.IDEMPOTENCY_SK,
        )
        if record is not None:
            return _replay(tenant, dedup.stored_response(record), request_fingerprint)
    if transact.failed_condition(reasons["dedup"]):
        original = _record(reasons["dedup"], dedup.dedup_pk(tenant, fingerprint), dedup.DEDUP_SK)
        if original is not None:
            return _duplicate(
                tenant,
                new,
                original=original,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint,
                now=now,
            )
    # Nothing explains the cancellation (the records expired between the failed
    # write and the read): the client may simply retry.
    logger.warning(
        "event transaction cancelled", extra={"reasons": transact.codes(reasons.values())}
    )
    raise ServiceUnavailable(retry_after=1)


def _created_body(event_id: str, new: NewEvent, received_at: str) -> EventCreatedView:
    return {
        "event_id": event_id,
        "event_type": new.event_type,
        "source": new.source,
        "received_at": received_at,
        "status": PENDING,
        "duplicate": False,
    }


def _event_put(tenant: str, event_id: str, new: NewEvent, now: float) -> dict[str, Any]:
    shard = random.randrange(settings().inbox_shards)  # noqa: S311 - spreading load
    inbox = place.inbox(tenant)
    home, home_type = inbox.pool(shard), inbox.type_pool(new.event_type, shard)
    received_at = clock.iso(now)
    item = {
        PK: event_pk(tenant, event_id),
        SK: EVENT_SK,
        layout.POOL_PK: home,
        layout.POOL_SK: event_id,
        layout.TYPE_POOL_PK: home_type,
        layout.TYPE_POOL_SK: event_id,
        # Every retained event by receipt time, pending or not (push delivery replays).
        layout.TIMELINE_PK_ATTR: timeline_pk(tenant, shard),
        layout.TIMELINE_SK_ATTR: f"{received_at}#{event_id}",
        layout.VISIBLE_SK: time_key(millis(now), event_id),  # available from now on
        layout.HOME_PK: home,
        layout.HOME_TYPE_PK: home_type,
        layout.ATTEMPTS: 0,
        "event_id": event_id,
        "tenant": tenant,
        "event_type": new.event_type,
        "payload": json.dumps(new.payload, ensure_ascii=False, separators=(",", ":")),
        "source": new.source,
        "occurred_at": new.occurred_at,
        "received_at": received_at,
        "status": PENDING,
    }
    return dynamo.put_op(
        settings().events_table,
        item,
        condition="attribute_not_exists(#pk)",
        names={"#pk": PK},
    )


def system_event_ops(
    tenant: str,
    event_type: str,
    source: str,
    payload: dict[str, Any],
    now: float,
    *,
    also_count: Mapping[str, int] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """(event_id, transaction items) that put a new pending event in the tenant's inbox.

    The one way another domain publishes an event (agent alerts, subscription.disabled):
    the caller adds these items to the transaction that makes the change, so the change
    and its event are stored together or not at all.  No dedup record: each change is
    its own event.  `also_count` adds the caller's own day counters to the same counter
    update (one transaction may not update the counter item twice).
    """
    event_id = ids.new_id()
    new = NewEvent(event_type=event_type, payload=payload, source=source)
    return event_id, [
        _event_put(tenant, event_id, new, now),
        counters.update_item(tenant, {**(also_count or {}), "events_received": 1}, now),
        place.inbox(tenant).gauge_update(+1),
    ]


def _replay(tenant: str, stored: dedup.StoredResponse, request_fingerprint: str) -> Outcome:
    if stored.request_fingerprint != request_fingerprint:
        raise Conflict("This Idempotency-Key was used with a different request body.")
    counters.increment(tenant, {"events_duplicate": 1})
    catalogue.count("idempotent_replays")
    catalogue.count("events_duplicate")
    return Outcome(REPLAY, _replayed_body(stored.body), replayed=stored.kind)


def _replayed_body(stored: Mapping[str, Any]) -> EventCreatedView:
    """The stored first answer (JSON read back from the idempotency record), as a duplicate."""
    return {
        "event_id": str(stored["event_id"]),
        "event_type": str(stored["event_type"]),
        "source": None if stored.get("source") is None else str(stored["source"]),
        "received_at": str(stored["received_at"]),
        "status": PENDING,
        "duplicate": True,
    }


def _duplicate(
    tenant: str,
    new: NewEvent,
    *,
    original: Mapping[str, Any],
    idempotency_key: str | None,
    request_fingerprint: str,
    now: float,
) -> Outcome:
    """The original event's creation response, marked as a duplicate."""
    body = _created_body(str(original["event_id"]), new, str(original["received_at"]))
    body["duplicate"] = True
    catalogue.count("dedup_hits")
    catalogue.count("events_duplicate")
    if idempotency_key is None:
        counters.increment(tenant, {"events_duplicate": 1}, now)
        return Outcome(DUPLICATE, body)
    # The key must replay this answer for 24 h, even after the 5-minute dedup window.
    count = counters.update_item(tenant, {"events_duplicate": 1}, now)
    stored = dedup.StoredResponse(DUPLICATE, body, request_fingerprint)
    reasons = transact.run_named(
        {"idempotency": dedup.idempotency_put(tenant, idempotency_key, stored, now), "count": count}
    )
    if reasons is not None and transact.failed_condition(reasons["idempotency"]):
        record = _record(
            reasons["idempotency"],
            dedup.idempotency_pk(tenant, idempotency_key),
            dedup.IDEMPOTENCY_SK,
        )
        if record is not None:  # a concurrent twin with the same key answered first
            return _replay(tenant, dedup.stored_response(record), request_fingerprint)
    return Outcome(DUPLICATE, body)


# ---------------------------------------------------------------- read


def get_event(tenant: str, event_id: str) -> EventView:
    """The event's public record; 404 for unknown, malformed, expired or foreign ids."""
    if not ids.is_valid_id(event_id):
        raise NotFound("No such event.")
    item = dynamo.get(settings().events_table, _event_key(tenant, event_id))
    if item is None:
        raise NotFound("No such event.")
    return {
        **public_item(item),
        "status": state.effective_status(item, clock.now()),
        "delivered_at": item.get("delivered_at"),
    }


def public_item(item: Mapping[str, Any]) -> PublicEvent:
    return {
        "event_id": item["event_id"],
        "event_type": item["event_type"],
        "payload": json.loads(str(item["payload"])),
        "source": item.get("source"),
        "occurred_at": item.get("occurred_at"),
        "received_at": item["received_at"],
    }


def _record(reason: Mapping[str, Any], pk: str, sk: str) -> dict[str, Any] | None:
    """The live record a failed conditional put ran into: from ALL_OLD, else one read."""
    if reason.get("Item") is None:
        return dynamo.get(settings().events_table, {PK: pk, SK: sk})
    return dynamo.live(reason["Item"])
