"""The quarantine: items leased `max_attempts` times and not acknowledged.

An item's last lease files it in the quarantine index at that lease's expiry, so it
reads as quarantined from then on (`state.effective_status`) with no job at expiry;
the next lease that meets it moves it out of the pools (`to_quarantine`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictStr, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import clock
from common.runtime.config import settings
from common.runtime.models import BodyModel, Count, Id, PageQuery, SlugParam, Time
from common.runtime.slug import Slug
from common.store import dynamo, pager
from common.triggers import events, layout
from common.triggers.inbox import changes, state
from common.triggers.inbox.changes import (
    LEASE_FIELDS,
    MAX_IDS,
    NOT_FOUND,
    POOL_KEYS,
    QUARANTINED,
    REMOVE_LEASE,
    REMOVE_POOLS,
    REQUEUED,
    Change,
    Guard,
)
from common.triggers.inbox.listing import cursor_query
from common.triggers.inbox.place import Place

EventIds = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=MAX_IDS),
]
_QUARANTINE_KEYS = {"#qpk": layout.QUARANTINE_PK, "#qsk": layout.QUARANTINE_SK}


class QuarantineQuery(PageQuery):
    """GET /inbox/quarantine: `limit`, `cursor` and the `queue`."""

    queue: SlugParam = layout.INBOX


class RequeueRequest(BodyModel):
    event_ids: EventIds
    queue: Slug = layout.INBOX


@with_config(ConfigDict(extra="forbid", title="QuarantinedItem"))
class QuarantinedItemView(events.PublicEvent):
    attempts: Count
    quarantined_at: Time


@with_config(ConfigDict(extra="forbid", title="RequeueResult"))
class RequeueResultView(TypedDict):
    requeued: list[Id]
    not_found: list[str]


def to_quarantine(
    place: Place,
    event_id: str,
    shard: int,
    at_ms: int,
    guard: Guard,
    *,
    counts: Mapping[str, int] | None = None,
) -> Change:
    """Out of the pools and every lease, into the quarantine at `at_ms`."""
    expression = (
        "SET #status = :quarantined, quarantined_at = :qat, #qpk = :qpk, #qsk = :qsk "
        f"REMOVE {REMOVE_POOLS}, {REMOVE_LEASE}"
    )
    guard = guard.also(
        {**POOL_KEYS, **LEASE_FIELDS, **_QUARANTINE_KEYS, "#vsk": layout.VISIBLE_SK},
        {
            ":quarantined": QUARANTINED,
            ":qat": clock.iso(at_ms / 1000),
            ":qpk": place.quarantine(shard),
            ":qsk": layout.time_key(at_ms, event_id),
        },
    )
    return Change(
        changes.update(place.key(event_id), expression, guard),
        QUARANTINED,
        counts if counts is not None else {"events_quarantined": 1},
        gauge=-1,
    )


def quarantine_page(
    place: Place, limit: int, cursor: str | None
) -> tuple[list[QuarantinedItemView], str | None]:
    """Quarantined items, oldest quarantine first: one Query per shard of the
    quarantine index up to now, so a last lease shows from its expiry on."""
    to = layout.time_key(layout.millis(clock.now()), "~")

    def read(shard: int, after: str | None, count: int) -> list[dict[str, Any]]:
        return dynamo.query_partition(
            settings().events_table,
            place.tenant,
            place.quarantine(shard),
            index=layout.QUARANTINE_INDEX,
            # Every sort key has one length, so the next one after `after` is >= after + "!".
            sort=dynamo.SortKey.between((after or "") + "!", to),
            limit=count,
        ).items

    page, next_cursor = pager.merged_page(
        place.tenant,
        cursor_query(place, quarantine=True),
        cursor,
        limit,
        shards=settings().inbox_shards,
        read=read,
        position=lambda i: i[layout.QUARANTINE_SK],
    )
    return [_quarantined_item(item) for item in page], next_cursor


def _quarantined_item(item: Mapping[str, Any]) -> QuarantinedItemView:
    quarantined_at = item.get("quarantined_at")
    if quarantined_at is None:  # a last lease that expired: quarantined at its expiry
        quarantined_at = clock.iso(int(item[layout.LEASE_EXPIRES_MS]) / 1000)
    return {
        **events.public_item(item),
        "attempts": int(item.get(layout.ATTEMPTS, 0)),
        "quarantined_at": quarantined_at,
    }


def _stored(place: Place, event_id: str, now_ms: int) -> Change:
    """A quarantined item back in its pools (from its own home_pk / home_type_pk)."""
    guard = Guard(
        "#status = :quarantined",
        {
            **POOL_KEYS,
            **_QUARANTINE_KEYS,
            "#att": layout.ATTEMPTS,
            "#home": layout.HOME_PK,
            "#home_type": layout.HOME_TYPE_PK,
            "#vsk": layout.VISIBLE_SK,
        },
        {
            ":pending": state.PENDING,
            ":quarantined": QUARANTINED,
            ":zero": 0,
            ":id": event_id,
            ":visible": layout.time_key(now_ms, event_id),
        },
    )
    expression = (
        "SET #status = :pending, #att = :zero, #g1pk = #home, #g1sk = :id, "
        "#g2pk = #home_type, #g2sk = :id, #vsk = :visible "
        "REMOVE #qpk, #qsk, quarantined_at"
    )
    return Change(changes.update(place.key(event_id), expression, guard), REQUEUED, gauge=+1)


def _last_lease_expired(place: Place, event_id: str, now_ms: int) -> Change:
    """Still in its pools (no lease has moved it yet): only the lease state resets."""
    guard = Guard(
        "#status = :pending AND attribute_exists(#qpk) AND #lexp <= :now_ms",
        {**_QUARANTINE_KEYS, **LEASE_FIELDS, "#att": layout.ATTEMPTS, "#vsk": layout.VISIBLE_SK},
        {
            ":pending": state.PENDING,
            ":zero": 0,
            ":now_ms": now_ms,
            ":visible": layout.time_key(now_ms, event_id),
        },
    )
    expression = f"SET #att = :zero, #vsk = :visible REMOVE #qpk, #qsk, {REMOVE_LEASE}"
    return Change(changes.update(place.key(event_id), expression, guard), REQUEUED)


def requeue(place: Place, event_ids: Sequence[str]) -> RequeueResultView:
    """Quarantined items become pending again, attempts 0."""
    now = clock.now()
    now_ms = layout.millis(now)

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        if old.get(layout.STATUS) == QUARANTINED:
            return _stored(place, event_id, now_ms)
        if old.get(layout.STATUS) == state.PENDING and state.last_lease_expired(old, now):
            return _last_lease_expired(place, event_id, now_ms)
        return NOT_FOUND

    unique, valid = changes.unique_valid(event_ids)
    first = {i: _stored(place, i, now_ms) for i in valid}
    results, _ = changes.apply(place, first, decide, now)
    requeued = [i for i in unique if results.get(i) == REQUEUED]
    return {"requeued": requeued, "not_found": [i for i in unique if i not in requeued]}
