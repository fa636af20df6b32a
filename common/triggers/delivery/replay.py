"""Replays: a time window of a tenant's events sent again to one subscription, as
jobs on the delivery queue that each send one page (and the job for the next)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import field_error
from common.store import dynamo
from common.store.tables import TIMELINE, TIMELINE_PK, TIMELINE_SK
from common.triggers import events
from common.triggers import subscriptions as subs
from common.triggers.delivery import messages
from common.triggers.delivery.messages import Delivery

REPLAY_PAGE = 100


def start_replay(tenant: str, subscription_id: str, request: subs.ReplayRequest) -> dict[str, Any]:
    """202 body: counts the window on the timeline index (keys and type only, about
    4,000 events per 1 MB read) and hands the sending to the queue, page by page."""
    subscription = subs.get(tenant, subscription_id)
    now = clock.now()
    since = str(request.since)
    until = str(request.until) if request.until else clock.iso(now)
    if until <= since:
        raise field_error("until", "must be later than since")
    replay_id = ids.new_id()
    filters = {"subscription": subscription.event_types, "replay": request.event_types}
    total = 0
    for shard in range(settings().inbox_shards):
        for item in _timeline(tenant, shard, since, until, start=None, limit=None):
            if _wanted(filters, str(item.get("event_type", ""))):
                total += 1
    job = {
        "kind": "replay",
        "tenant": tenant,
        "subscription_id": subscription_id,
        "replay_id": replay_id,
        "since": since,
        "until": until,
        "filters": filters,
        "shard": 0,
        "start": None,
    }
    messages.send([(json.dumps(job, separators=(",", ":")), 0)])
    return {"replay_id": replay_id, "events": total}


def _wanted(filters: Mapping[str, Any], event_type: str) -> bool:
    return subs.matches(filters.get("subscription"), event_type) and subs.matches(
        filters.get("replay"), event_type
    )


def _timeline(
    tenant: str,
    shard: int,
    since: str,
    until: str,
    *,
    start: Mapping[str, Any] | None,
    limit: int | None,
) -> Iterable[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "names": {"#pk": TIMELINE_PK, "#sk": TIMELINE_SK},
        "values": {":pk": events.timeline_pk(tenant, shard), ":since": since, ":until": until},
        "index": TIMELINE,
    }
    condition = "#pk = :pk AND #sk BETWEEN :since AND :until"
    if limit is None:
        return dynamo.query_all(settings().events_table, condition, **kwargs)
    return dynamo.query(
        settings().events_table, condition, start=start, limit=limit, **kwargs
    ).items


def replay_page(job: Mapping[str, Any]) -> int:
    """Send one page of a replay (and the job for the next page); returns events sent."""
    tenant, subscription_id = str(job["tenant"]), str(job["subscription_id"])
    if subs.load(tenant, subscription_id) is None:
        return 0
    shard = int(job.get("shard") or 0)
    page = dynamo.query(
        settings().events_table,
        "#pk = :pk AND #sk BETWEEN :since AND :until",
        names={"#pk": TIMELINE_PK, "#sk": TIMELINE_SK},
        values={
            ":pk": events.timeline_pk(tenant, shard),
            ":since": str(job["since"]),
            ":until": str(job["until"]),
        },
        index=TIMELINE,
        limit=REPLAY_PAGE,
        start=job.get("start"),
    )
    round_name = f"R{job['replay_id']}"
    deliveries = [
        Delivery(tenant, subscription_id, str(item["tlsk"]).rsplit("#", 1)[1], 1, round_name)
        for item in page.items
        if _wanted(job.get("filters") or {}, str(item.get("event_type", "")))
    ]
    bodies = [(d.body(), 0) for d in deliveries]
    following = _next_job(job, shard, page.last_key)
    if following is not None:
        bodies.append((json.dumps(following, separators=(",", ":"), default=str), 0))
    messages.send(bodies)
    return len(deliveries)


def _next_job(
    job: Mapping[str, Any], shard: int, last_key: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if last_key is not None:
        return {**job, "shard": shard, "start": dict(last_key)}
    if shard + 1 < settings().inbox_shards:
        return {**job, "shard": shard + 1, "start": None}
    return None
