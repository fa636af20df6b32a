"""GET /inbox: a queue's pending events, oldest first, and the figures read from its
pools (pending, leased, quarantined, the oldest pending one) — none of them a scan."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, with_config

from common.runtime import clock
from common.runtime.config import settings
from common.runtime.models import Count, PageQuery, SlugParam, Time, query_text
from common.store import dynamo, pager
from common.store.tables import PK
from common.triggers import events, layout
from common.triggers.inbox import state
from common.triggers.inbox.place import Place


class InboxQuery(PageQuery):
    """GET /inbox: `limit`, `cursor`, an optional exact `event_type`, the `queue`."""

    event_type: Annotated[str, query_text(255)] | None = None
    queue: SlugParam = layout.INBOX


@with_config(ConfigDict(extra="forbid", title="InboxItem"))
class InboxItemView(events.PublicEvent):
    attempts: Count
    leased_until: Time | None


def cursor_query(place: Place, **query: Any) -> dict[str, Any]:
    """What a cursor is bound to: the query, and the queue when it is a named one."""
    return query if place.is_inbox else {**query, "queue": place.queue_id}


def inbox_page(
    place: Place, limit: int, cursor: str | None, event_type: str | None
) -> tuple[list[InboxItemView], str | None]:
    """Pending events oldest first (leased or not), one Query per shard whatever the backlog.

    An event whose last lease has expired is quarantined (`state.effective_status`) and
    left out; it stays in the pool only until the next lease call moves it."""
    now = clock.now()

    def read(shard: int, after: str | None, count: int) -> list[dict[str, Any]]:
        return query_pool(place, shard, event_type, after, count)

    page, next_cursor = pager.merged_page(
        place.tenant,
        cursor_query(place, event_type=event_type),
        cursor,
        limit,
        shards=settings().inbox_shards,
        read=read,
        position=lambda item: item["event_id"],
    )
    return [
        {
            **events.public_item(item),
            "attempts": int(item.get(layout.ATTEMPTS, 0)),
            "leased_until": state.leased_until(item, now),
        }
        for item in page
        if not state.last_lease_expired(item, now)
    ], next_cursor


def query_pool(
    place: Place, shard: int, event_type: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    if event_type is None:
        index, pk = layout.POOL_INDEX, place.pool(shard)
    else:
        index, pk = layout.TYPE_POOL_INDEX, place.type_pool(event_type, shard)
    return dynamo.query_partition(
        settings().events_table,
        place.tenant,
        pk,
        index=index,
        sort=dynamo.SortKey.above(after) if after else None,
        limit=limit,
    ).items


def summary(place: Place) -> tuple[int, str | None]:
    """(pending events, received_at of the oldest pending one) without counting the pool:
    one Query on the gauge items plus one `Limit=1` Query per shard."""
    oldest = [
        items[0]
        for shard in range(settings().inbox_shards)
        if (items := query_pool(place, shard, None, None, 1))
    ]
    oldest.sort(key=lambda item: str(item["event_id"]))
    return place.pending(), (str(oldest[0]["received_at"]) if oldest else None)


def leased_count(place: Place) -> int:
    """Items under a live lease now: the part of each shard's availability index that is
    not yet visible, less delayed releases.  Reads every leased item (bounded by what
    consumers hold, not by the backlog), never the pending or delivered ones."""
    now_ms = layout.millis(clock.now())
    total = 0
    for shard in range(settings().inbox_shards):
        total += sum(
            1
            for _ in dynamo.query_partition_all(
                settings().events_table,
                place.tenant,
                place.pool(shard),
                index=layout.AVAILABLE_INDEX,
                sort=dynamo.SortKey.above(layout.time_key(now_ms, "~")),
                projection=[PK],
                where=dynamo.Filter(
                    "#lexp > :now_ms", {"#lexp": layout.LEASE_EXPIRES_MS}, {":now_ms": now_ms}
                ),
            )
        )
    return total


def quarantined_count(place: Place) -> int:
    """Items in the quarantine now (a last lease counts from its expiry): reads the
    quarantine only, keys only."""
    to = layout.time_key(layout.millis(clock.now()), "~")
    return sum(
        1
        for shard in range(settings().inbox_shards)
        for _ in dynamo.query_partition_all(
            settings().events_table,
            place.tenant,
            place.quarantine(shard),
            index=layout.QUARANTINE_INDEX,
            sort=dynamo.SortKey.at_most(to),
            projection=[PK],
        )
    )
