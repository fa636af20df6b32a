"""Triggers: events, the sparse inbox, acknowledgements and the pending gauge.

Data layout (events table, see docs/conventions.md):
* event  pk `T#<tenant>#E#<event_id>`, sk `E`; while pending it also carries
  gsi1 `T#<tenant>#S<shard>` / `<event_id>` (the inbox) and
  gsi2 `T#<tenant>#TY#<event_type>#S<shard>` / `<event_id>` (the inbox per type).
  Acknowledging REMOVEs those four attributes, so the indexes hold pending events
  only and an inbox page costs one Query per shard whatever the backlog.
* dedup / idempotency records: see `common.triggers.dedup`.

Pending gauge (stats table): pk `T#<tenant>#GAUGE`, sk `inbox#<n>`, attribute
`pending`; +1 in the create transaction, -1 in the first acknowledgement's. `n` is
random per write (the sum is what counts), so a busy tenant spreads the writes.

The payload is stored as its JSON text: it round-trips exactly (no Decimal
conversion, no DynamoDB nesting limit) and it is never queried by content.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, ServiceUnavailable
from common.runtime.models import Count, Id, PageQuery, Time, Timestamp, invalid, query_text
from common.runtime.observability import logger
from common.store import counters, dynamo, transact
from common.store import cursor as cursors
from common.store.tables import (
    GSI1,
    GSI1_PK,
    GSI1_SK,
    GSI2,
    GSI2_PK,
    GSI2_SK,
    GSI3_SK,
    GSI5_PK,
    PK,
    SK,
    TIMELINE_PK,
    TIMELINE_SK,
)
from common.triggers import dedup

EVENT_SK = "E"
EventStatus = Literal["pending", "delivered", "quarantined"]
PENDING: Literal["pending"] = "pending"
DELIVERED: Literal["delivered"] = "delivered"
QUARANTINED: Literal["quarantined"] = "quarantined"
_STATUSES: dict[str, EventStatus] = {
    PENDING: PENDING,
    DELIVERED: DELIVERED,
    QUARANTINED: QUARANTINED,
}
MAX_ACK_IDS = 100
# Where a pending event lives in the inbox indexes, kept on the item so that a
# requeue can put a quarantined event back without reading it first.
HOME_PK, HOME_TYPE_PK = "home_pk", "home_type_pk"
# Lease state on the event item (common.triggers.inbox).
ATTEMPTS, LEASE_ID, LEASE_EXPIRES_MS, LEASED_UNTIL = (
    "attempts",
    "lease_id",
    "lease_expires_ms",
    "leased_until",
)
# `source` values dockhand writes itself (agent alerts, subscription notices, job
# outcomes): reserved, so a client cannot forge a system event (CONTRACT Part 3).
SYSTEM_SOURCE_PREFIX = "dockhand."
# Cancellation reasons meaning "busy": the client should retry (503), nothing was written.


# ---------------------------------------------------------------- request models


class NewEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    payload: dict[str, Any]
    source: Annotated[StrictStr, Field(max_length=255)] | None = None
    occurred_at: Timestamp | None = None  # stored in the contract's UTC millisecond form

    @field_validator("source")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.lower().startswith(SYSTEM_SOURCE_PREFIX):
            raise invalid(f"sources starting with {SYSTEM_SOURCE_PREFIX!r} are dockhand's own")
        return value


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_ids: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=MAX_ACK_IDS),
    ]


# What `create_event` did: stored a new event, found a content duplicate, or replayed
# the first answer to an Idempotency-Key.  The handler picks the HTTP status.
CREATED, DUPLICATE, REPLAY = dedup.CREATED, dedup.DUPLICATE, "replay"


class InboxQuery(PageQuery):
    """GET /inbox: `limit`, `cursor`, and an optional exact `event_type`."""

    event_type: Annotated[str, query_text(255)] | None = None


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


@with_config(ConfigDict(extra="forbid", title="InboxItem"))
class InboxItemView(PublicEvent):
    attempts: Count
    leased_until: Time | None


@dataclass(frozen=True)
class Outcome:
    """What `POST /events` did (`kind`) and the body it answers with.  For a replay,
    `replayed` is the kind of the first answer (CREATED or DUPLICATE)."""

    kind: str
    body: EventCreatedView
    replayed: str | None = None


# ---------------------------------------------------------------- keys


def event_pk(tenant: str, event_id: str) -> str:
    return f"T#{tenant}#E#{event_id}"


def inbox_pk(tenant: str, shard: int) -> str:
    return f"T#{tenant}#S{shard}"


def type_inbox_pk(tenant: str, event_type: str, shard: int) -> str:
    return f"T#{tenant}#TY#{event_type}#S{shard}"


def timeline_pk(tenant: str, shard: int) -> str:
    return f"T#{tenant}#TL#S{shard}"


def gauge_pk(tenant: str) -> str:
    return f"T#{tenant}#GAUGE"


def quarantine_pk(tenant: str, shard: int) -> str:
    return f"T#{tenant}#Q#S{shard}"


def millis(moment: float) -> int:
    return int(moment * 1000)


def time_key(moment_ms: int, event_id: str) -> str:
    """`<epoch ms, 15 digits>#<event_id>`: sorts by time, then by id (all one length)."""
    return f"{moment_ms:015d}#{event_id}"


def shard_of(pool_pk: str) -> int:
    """The shard number at the end of an inbox partition key (`...#S<n>`)."""
    return int(pool_pk.rsplit("#S", 1)[1])


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
    items = [
        _event_put(tenant, event_id, new, now),
        dedup.dedup_put(tenant, fingerprint, body, now),
    ]
    if idempotency_key is not None:
        stored = dedup.StoredResponse(CREATED, body, request_fingerprint)
        items.append(dedup.idempotency_put(tenant, idempotency_key, stored, now))
    items.append(counters.update_item(tenant, {"events_received": 1}, now))
    items.append(gauge_update(tenant, +1))

    reasons = transact.run(items)
    if reasons is None:
        catalogue.count("events_received")
        return Outcome(CREATED, body)
    if idempotency_key is not None and transact.failed_condition(reasons[2]):
        record = _record(
            reasons[2], dedup.idempotency_pk(tenant, idempotency_key), dedup.IDEMPOTENCY_SK
        )
        if record is not None:
            return _replay(tenant, dedup.stored_response(record), request_fingerprint)
    if transact.failed_condition(reasons[1]):
        original = _record(reasons[1], dedup.dedup_pk(tenant, fingerprint), dedup.DEDUP_SK)
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
    logger.warning("event transaction cancelled", extra={"reasons": transact.codes(reasons)})
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
    home, home_type = inbox_pk(tenant, shard), type_inbox_pk(tenant, new.event_type, shard)
    received_at = clock.iso(now)
    item = {
        PK: event_pk(tenant, event_id),
        SK: EVENT_SK,
        GSI1_PK: home,
        GSI1_SK: event_id,
        GSI2_PK: home_type,
        GSI2_SK: event_id,
        # Every retained event by receipt time, pending or not (push delivery replays).
        TIMELINE_PK: timeline_pk(tenant, shard),
        TIMELINE_SK: f"{received_at}#{event_id}",
        GSI3_SK: time_key(millis(now), event_id),  # available from now on
        HOME_PK: home,
        HOME_TYPE_PK: home_type,
        ATTEMPTS: 0,
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
    if not source.startswith(SYSTEM_SOURCE_PREFIX):
        raise ValueError(f"a system event's source starts with {SYSTEM_SOURCE_PREFIX!r}")
    event_id = ids.new_id()
    # Built without validation: the reserved source is exactly what a client may not send.
    new = NewEvent.model_construct(event_type=event_type, payload=payload, source=source)
    return event_id, [
        _event_put(tenant, event_id, new, now),
        counters.update_item(tenant, {**(also_count or {}), "events_received": 1}, now),
        gauge_update(tenant, +1),
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
    reasons = transact.run([dedup.idempotency_put(tenant, idempotency_key, stored, now), count])
    if reasons is not None and transact.failed_condition(reasons[0]):
        record = _record(
            reasons[0], dedup.idempotency_pk(tenant, idempotency_key), dedup.IDEMPOTENCY_SK
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
        "status": effective_status(item, clock.now()),
        "delivered_at": item.get("delivered_at"),
    }


def effective_status(item: Mapping[str, Any], now: float) -> EventStatus:
    """The status a client sees.  An event on its last lease (filed in the quarantine,
    gsi5) is quarantined from the moment that lease expires, before the next lease
    call moves it (common.triggers.inbox): no job has to run at expiry."""
    status = _STATUSES[str(item["status"])]
    if status == PENDING and last_lease_expired(item, now):
        return QUARANTINED
    return status


def last_lease_expired(item: Mapping[str, Any], now: float) -> bool:
    return GSI5_PK in item and int(item.get(LEASE_EXPIRES_MS, 0)) <= millis(now)


def leased_until(item: Mapping[str, Any], now: float) -> str | None:
    """When the event's live lease ends, or None when no lease holds it."""
    expires = item.get(LEASE_EXPIRES_MS)
    if item.get("status") != PENDING or expires is None or int(expires) <= millis(now):
        return None
    return str(item[LEASED_UNTIL])


def public_item(item: Mapping[str, Any]) -> PublicEvent:
    return {
        "event_id": item["event_id"],
        "event_type": item["event_type"],
        "payload": json.loads(str(item["payload"])),
        "source": item.get("source"),
        "occurred_at": item.get("occurred_at"),
        "received_at": item["received_at"],
    }


# ---------------------------------------------------------------- inbox


def inbox_page(
    tenant: str, limit: int, cursor: str | None, event_type: str | None
) -> tuple[list[InboxItemView], str | None]:
    """Pending events oldest first (leased or not), one Query per shard whatever the backlog.

    Items carry `attempts` and `leased_until`.  An event whose last lease has expired is
    quarantined (see `effective_status`) and left out; it stays in the index only until
    the next lease call of the tenant moves it (docs/triggers.md bounds how many).
    """
    now = clock.now()

    def read(shard: int, after: str | None, count: int) -> list[dict[str, Any]]:
        return _query_shard(tenant, shard, event_type, after, count)

    page, next_cursor = merged_page(
        tenant,
        {"event_type": event_type},
        cursor,
        limit,
        read=read,
        position=lambda item: item["event_id"],
    )
    return [
        {**public_item(item), "attempts": int(item.get(ATTEMPTS, 0)), "leased_until": leased}
        for item in page
        if not last_lease_expired(item, now)
        for leased in [leased_until(item, now)]
    ], next_cursor


ShardReader = Callable[[int, str | None, int], list[dict[str, Any]]]


def merged_page(
    tenant: str,
    query: Mapping[str, Any],
    cursor: str | None,
    limit: int,
    *,
    read: ShardReader,
    position: Callable[[Mapping[str, Any]], Any],
) -> tuple[list[dict[str, Any]], str | None]:
    """One page over every inbox shard, merged by `position` (the index's sort key).

    Each shard is read after its own position, `limit + 1` items at most, so a page
    never reads more than shards x (limit + 1) items.  The cursor records every
    shard's position and is bound to tenant and `query`.
    """
    positions: dict[str, Any] = cursors.decode(cursor, tenant, query) if cursor else {}
    fetched: list[tuple[int, dict[str, Any]]] = []
    more_in_shard: set[int] = set()
    for shard in range(settings().inbox_shards):
        after = positions.get(str(shard))
        items = read(shard, str(after) if after else None, limit + 1)
        if len(items) > limit:
            more_in_shard.add(shard)
        fetched.extend((shard, item) for item in items[:limit])
    fetched.sort(key=lambda pair: str(position(pair[1])))
    page, rest = fetched[:limit], fetched[limit:]
    for shard, item in page:
        positions[str(shard)] = position(item)
    has_more = bool(rest) or bool(more_in_shard)
    next_cursor = cursors.encode(tenant, query, positions) if has_more else None
    return [item for _, item in page], next_cursor


def _query_shard(
    tenant: str, shard: int, event_type: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    if event_type is None:
        index, pk_name, sk_name, pk = GSI1, GSI1_PK, GSI1_SK, inbox_pk(tenant, shard)
    else:
        index, pk_name, sk_name = GSI2, GSI2_PK, GSI2_SK
        pk = type_inbox_pk(tenant, event_type, shard)
    condition = "#pk = :pk" + (" AND #sk > :after" if after else "")
    values = {":pk": pk, **({":after": after} if after else {})}
    return dynamo.query(
        settings().events_table,
        condition,
        names={"#pk": pk_name, **({"#sk": sk_name} if after else {})},
        values=values,
        index=index,
        limit=limit,
    ).items


def inbox_summary(tenant: str) -> tuple[int, str | None]:
    """(pending events, received_at of the oldest pending one) without counting the index.

    One Query on the gauge items plus one `Limit=1` Query per inbox shard.
    """
    gauges = dynamo.query(
        settings().stats_table,
        "#pk = :pk",
        names={"#pk": PK},
        values={":pk": gauge_pk(tenant)},
        consistent=True,
    )
    pending = sum(int(item.get("pending", 0)) for item in gauges.items)
    oldest = [
        items[0]
        for shard in range(settings().inbox_shards)
        if (items := _query_shard(tenant, shard, None, None, 1))
    ]
    oldest.sort(key=lambda item: str(item["event_id"]))
    return max(pending, 0), (str(oldest[0]["received_at"]) if oldest else None)


def gauge_update(tenant: str, delta: int) -> dict[str, Any]:
    shard = random.randrange(settings().inbox_shards)  # noqa: S311 - spreading load
    return dynamo.update_op(
        settings().stats_table,
        {PK: gauge_pk(tenant), SK: f"inbox#{shard}"},
        "SET #tenant = :tenant ADD pending :delta",
        names={"#tenant": "tenant"},
        values={":tenant": tenant, ":delta": delta},
    )


def _record(reason: Mapping[str, Any], pk: str, sk: str) -> dict[str, Any] | None:
    """The live record a failed conditional put ran into: from ALL_OLD, else one read."""
    if reason.get("Item") is None:
        return dynamo.get(settings().events_table, {PK: pk, SK: sk})
    return dynamo.live(reason["Item"])
