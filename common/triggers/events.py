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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, ServiceUnavailable
from common.runtime.observability import logger
from common.store import aws, counters, ddb, transact
from common.store import cursor as cursors
from common.store.tables import (
    GSI1,
    GSI1_PK,
    GSI1_SK,
    GSI2,
    GSI2_PK,
    GSI2_SK,
    PK,
    SK,
    TTL_ATTRIBUTE,
)
from common.triggers import dedup

EVENT_SK = "E"
PENDING, DELIVERED = "pending", "delivered"
MAX_ACK_IDS = 100
_TRANSACTION_LIMIT = 100
_ACKS_PER_TRANSACTION = _TRANSACTION_LIMIT - 2  # room for the counter and gauge updates
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


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_ids: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=MAX_ACK_IDS),
    ]


@dataclass(frozen=True)
class Outcome:
    """What `POST /events` answers: a status and a body."""

    status: int
    body: dict[str, Any]


# ---------------------------------------------------------------- keys


def event_pk(tenant: str, event_id: str) -> str:
    return f"T#{tenant}#E#{event_id}"


def inbox_pk(tenant: str, shard: int) -> str:
    return f"T#{tenant}#S{shard}"


def type_inbox_pk(tenant: str, event_type: str, shard: int) -> str:
    return f"T#{tenant}#TY#{event_type}#S{shard}"


def gauge_pk(tenant: str) -> str:
    return f"T#{tenant}#GAUGE"


def _event_key(tenant: str, event_id: str) -> dict[str, Any]:
    return ddb.serialize({PK: event_pk(tenant, event_id), SK: EVENT_SK})


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
        _event_put(tenant, event_id, new, received_at),
        dedup.dedup_put(tenant, fingerprint, body, now),
    ]
    if idempotency_key is not None:
        stored = dedup.StoredResponse(201, body, request_fingerprint)
        items.append(dedup.idempotency_put(tenant, idempotency_key, stored, now))
    items.append(counters.update_item(tenant, {"events_received": 1}, now))
    items.append(_gauge_update(tenant, +1))

    reasons = transact.run(items)
    if reasons is None:
        catalogue.count("events_received")
        return Outcome(201, body)
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


def _created_body(event_id: str, new: NewEvent, received_at: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": new.event_type,
        "source": new.source,
        "received_at": received_at,
        "status": PENDING,
        "duplicate": False,
    }


def _event_put(tenant: str, event_id: str, new: NewEvent, received_at: str) -> dict[str, Any]:
    shard = random.randrange(settings().inbox_shards)  # noqa: S311 - spreading load
    item = {
        PK: event_pk(tenant, event_id),
        SK: EVENT_SK,
        GSI1_PK: inbox_pk(tenant, shard),
        GSI1_SK: event_id,
        GSI2_PK: type_inbox_pk(tenant, new.event_type, shard),
        GSI2_SK: event_id,
        "event_id": event_id,
        "tenant": tenant,
        "event_type": new.event_type,
        "payload": json.dumps(new.payload, ensure_ascii=False, separators=(",", ":")),
        "source": new.source,
        "occurred_at": new.occurred_at,
        "received_at": received_at,
        "status": PENDING,
    }
    return {
        "Put": {
            "TableName": settings().events_table,
            "Item": ddb.serialize(item),
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": PK},
        }
    }


def system_event_ops(
    tenant: str, event_type: str, source: str, payload: dict[str, Any], now: float
) -> tuple[str, list[dict[str, Any]]]:
    """(event_id, transaction items) that put a new pending event in the tenant's inbox.

    The one way another domain publishes an event (agent alerts, subscription.disabled):
    the caller adds these items to the transaction that makes the change, so the change
    and its event are stored together or not at all.  No dedup record: each change is
    its own event.
    """
    event_id = ids.new_id()
    new = NewEvent(event_type=event_type, payload=payload, source=source)
    return event_id, [
        _event_put(tenant, event_id, new, clock.iso(now)),
        counters.update_item(tenant, {"events_received": 1}, now),
        _gauge_update(tenant, +1),
    ]


def _replay(tenant: str, stored: dedup.StoredResponse, request_fingerprint: str) -> Outcome:
    if stored.request_fingerprint != request_fingerprint:
        raise Conflict("This Idempotency-Key was used with a different request body.")
    counters.increment(tenant, {"events_duplicate": 1})
    catalogue.count("idempotent_replays")
    catalogue.count("events_duplicate")
    return Outcome(stored.status, {**stored.body, "duplicate": True})


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
    body = {
        **_created_body(str(original["event_id"]), new, str(original["received_at"])),
        "duplicate": True,
    }
    catalogue.count("dedup_hits")
    catalogue.count("events_duplicate")
    count = counters.update_item(tenant, {"events_duplicate": 1}, now)
    if idempotency_key is None:
        aws.dynamodb().update_item(**count["Update"])
        return Outcome(200, body)
    # The key must replay this answer for 24 h, even after the 5-minute dedup window.
    stored = dedup.StoredResponse(200, body, request_fingerprint)
    reasons = transact.run([dedup.idempotency_put(tenant, idempotency_key, stored, now), count])
    if reasons is not None and transact.failed_condition(reasons[0]):
        record = _record(
            reasons[0], dedup.idempotency_pk(tenant, idempotency_key), dedup.IDEMPOTENCY_SK
        )
        if record is not None:  # a concurrent twin with the same key answered first
            return _replay(tenant, dedup.stored_response(record), request_fingerprint)
    return Outcome(200, body)


# ---------------------------------------------------------------- read


def get_event(tenant: str, event_id: str) -> dict[str, Any]:
    """The event's public record; 404 for unknown, malformed, expired or foreign ids."""
    if not ids.is_valid_id(event_id):
        raise NotFound("No such event.")
    result = aws.dynamodb().get_item(
        TableName=settings().events_table,
        Key=_event_key(tenant, event_id),
        ConsistentRead=True,
    )
    raw = result.get("Item")
    item = ddb.deserialize(raw) if raw else None
    if item is None or _expired(item, clock.now()):
        raise NotFound("No such event.")
    return {
        **_inbox_item(item),
        "status": item["status"],
        "delivered_at": item.get("delivered_at"),
    }


def _inbox_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event_id": item["event_id"],
        "event_type": item["event_type"],
        "payload": json.loads(str(item["payload"])),
        "source": item.get("source"),
        "occurred_at": item.get("occurred_at"),
        "received_at": item["received_at"],
    }


def _expired(item: Mapping[str, Any], now: float) -> bool:
    expires_at = item.get(TTL_ATTRIBUTE)
    return isinstance(expires_at, int) and expires_at < now


# ---------------------------------------------------------------- acknowledge


def acknowledge(tenant: str, event_id: str) -> None:
    """Mark one event delivered (idempotent); 404 if it is not the tenant's live event."""
    acknowledged, _ = acknowledge_many(tenant, [event_id])
    if not acknowledged:
        raise NotFound("No such event.")


def acknowledge_many(tenant: str, event_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(acknowledged, not_found), each in request order without repeats.

    Pending events are delivered by one transaction per 98 ids that also adds to
    `events_delivered` and takes them off the pending gauge, so only a first
    acknowledgement counts.  A cancelled transaction's ALL_OLD reasons say which ids
    were already delivered (acknowledged again) or absent (not found); the rest are
    retried without them.
    """
    unique = list(dict.fromkeys(event_ids))
    outcome: dict[str, bool] = {i: False for i in unique if not ids.is_valid_id(i)}
    candidates = [i for i in unique if i not in outcome]
    for start in range(0, len(candidates), _ACKS_PER_TRANSACTION):
        outcome.update(
            _acknowledge_chunk(tenant, candidates[start : start + _ACKS_PER_TRANSACTION])
        )
    acknowledged = [i for i in unique if outcome[i]]
    return acknowledged, [i for i in unique if not outcome[i]]


def _acknowledge_chunk(tenant: str, event_ids: list[str]) -> dict[str, bool]:
    outcome: dict[str, bool] = {}
    pending = list(event_ids)
    while pending:
        now = clock.now()
        items = [_deliver_update(tenant, event_id, now) for event_id in pending]
        items.append(counters.update_item(tenant, {"events_delivered": len(pending)}, now))
        items.append(_gauge_update(tenant, -len(pending)))
        reasons = transact.run(items)
        if reasons is None:
            outcome.update(dict.fromkeys(pending, True))
            catalogue.count("events_delivered", len(pending))
            return outcome
        still_pending = []
        for event_id, reason in zip(pending, reasons, strict=False):
            if transact.failed_condition(reason):
                old = reason.get("Item")
                outcome[event_id] = old is not None and _delivered_and_live(
                    ddb.deserialize(old), now
                )
            else:
                still_pending.append(event_id)
        if len(still_pending) == len(pending):  # pragma: no cover - cancelled for no stated reason
            raise ServiceUnavailable(retry_after=1)
        pending = still_pending
    return outcome


def _deliver_update(tenant: str, event_id: str, now: float) -> dict[str, Any]:
    expires_at = int(now) + settings().delivered_retention_days * 86_400
    return {
        "Update": {
            "TableName": settings().events_table,
            "Key": _event_key(tenant, event_id),
            "UpdateExpression": "SET #status = :delivered, delivered_at = :now_iso, #exp = :exp "
            "REMOVE #g1pk, #g1sk, #g2pk, #g2sk",
            "ConditionExpression": "attribute_exists(#pk) AND #status = :pending",
            "ExpressionAttributeNames": {
                "#pk": PK,
                "#status": "status",
                "#exp": TTL_ATTRIBUTE,
                "#g1pk": GSI1_PK,
                "#g1sk": GSI1_SK,
                "#g2pk": GSI2_PK,
                "#g2sk": GSI2_SK,
            },
            "ExpressionAttributeValues": {
                ":delivered": ddb.value(DELIVERED),
                ":pending": ddb.value(PENDING),
                ":now_iso": ddb.value(clock.iso(now)),
                ":exp": ddb.value(expires_at),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _delivered_and_live(item: Mapping[str, Any], now: float) -> bool:
    return item.get("status") == DELIVERED and not _expired(item, now)


# ---------------------------------------------------------------- inbox


def inbox_page(
    tenant: str, limit: int, cursor: str | None, event_type: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Pending events oldest first, one Query per shard whatever the backlog.

    Each shard is read after its own position (`gsi_sk > last id`), `limit + 1` items
    at most, and the shards are merged by event id (ids sort by creation time).  The
    cursor records every shard's position and is bound to tenant and `event_type`.
    """
    query = {"event_type": event_type}
    positions: dict[str, Any] = cursors.decode(cursor, tenant, query) if cursor else {}
    fetched: list[tuple[int, dict[str, Any]]] = []
    more_in_shard: set[int] = set()
    for shard in range(settings().inbox_shards):
        after = positions.get(str(shard))
        items = _query_shard(tenant, shard, event_type, str(after) if after else None, limit + 1)
        if len(items) > limit:
            more_in_shard.add(shard)
        fetched.extend((shard, item) for item in items[:limit])
    fetched.sort(key=lambda pair: str(pair[1]["event_id"]))
    page, rest = fetched[:limit], fetched[limit:]
    for shard, item in page:
        positions[str(shard)] = item["event_id"]
    has_more = bool(rest) or bool(more_in_shard)
    next_cursor = cursors.encode(tenant, query, positions) if has_more else None
    return [_inbox_item(item) for _, item in page], next_cursor


def _query_shard(
    tenant: str, shard: int, event_type: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    if event_type is None:
        index, pk_name, sk_name, pk = GSI1, GSI1_PK, GSI1_SK, inbox_pk(tenant, shard)
    else:
        index, pk_name, sk_name = GSI2, GSI2_PK, GSI2_SK
        pk = type_inbox_pk(tenant, event_type, shard)
    condition = "#pk = :pk" + (" AND #sk > :after" if after else "")
    values = {":pk": ddb.value(pk)}
    if after:
        values[":after"] = ddb.value(after)
    result = aws.dynamodb().query(
        TableName=settings().events_table,
        IndexName=index,
        KeyConditionExpression=condition,
        ExpressionAttributeNames={"#pk": pk_name, **({"#sk": sk_name} if after else {})},
        ExpressionAttributeValues=values,
        ScanIndexForward=True,
        Limit=limit,
    )
    return [ddb.deserialize(raw) for raw in result.get("Items", [])]


def inbox_summary(tenant: str) -> tuple[int, str | None]:
    """(pending events, received_at of the oldest pending one) without counting the index.

    One Query on the gauge items plus one `Limit=1` Query per inbox shard.
    """
    result = aws.dynamodb().query(
        TableName=settings().stats_table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": PK},
        ExpressionAttributeValues={":pk": ddb.value(gauge_pk(tenant))},
        ConsistentRead=True,
    )
    pending = sum(int(ddb.deserialize(raw).get("pending", 0)) for raw in result.get("Items", []))
    oldest = [
        items[0]
        for shard in range(settings().inbox_shards)
        if (items := _query_shard(tenant, shard, None, None, 1))
    ]
    oldest.sort(key=lambda item: str(item["event_id"]))
    return max(pending, 0), (str(oldest[0]["received_at"]) if oldest else None)


def _gauge_update(tenant: str, delta: int) -> dict[str, Any]:
    shard = random.randrange(settings().inbox_shards)  # noqa: S311 - spreading load
    return {
        "Update": {
            "TableName": settings().stats_table,
            "Key": ddb.serialize({PK: gauge_pk(tenant), SK: f"inbox#{shard}"}),
            "UpdateExpression": "SET #tenant = :tenant ADD pending :delta",
            "ExpressionAttributeNames": {"#tenant": "tenant"},
            "ExpressionAttributeValues": {
                ":tenant": ddb.value(tenant),
                ":delta": ddb.value(delta),
            },
        }
    }


def _record(reason: Mapping[str, Any], pk: str, sk: str) -> dict[str, Any] | None:
    """The live record a failed conditional put ran into: from ALL_OLD, else one read."""
    raw = reason.get("Item")
    if raw is None:
        raw = (
            aws.dynamodb()
            .get_item(
                TableName=settings().events_table,
                Key=ddb.serialize({PK: pk, SK: sk}),
                ConsistentRead=True,
            )
            .get("Item")
        )
    item = ddb.deserialize(raw) if raw else None
    if item is None or _expired(item, clock.now()):
        return None
    return item
