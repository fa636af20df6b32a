"""Replays: a time window of a tenant's events sent again to one subscription, as
jobs on the delivery queue that each send one page (and the job for the next).

Paced and one at a time: a subscription has at most one running replay (a lock
item, fairness.py; a second → 409 `conflict`), and a page's deliveries are spread
over time at the subscription's rate limit (REPLAY_RATE a second without one), the
next page waiting until this one's are due.  Recovery on enable is a replay from
when the subscription stopped (`trigger="recovery"`), so the deliveries log tells
them apart.  Every delivery keeps the event's own webhook-id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, field_error
from common.store import dynamo
from common.store.tables import TIMELINE
from common.triggers import layout
from common.triggers import subscriptions as subs
from common.triggers.delivery import fairness, messages
from common.triggers.delivery.messages import Delivery

REPLAY_PAGE = 100
REPLAY_RATE = 10  # deliveries a second for a subscription without a rate limit
RECOVERY_RATE = 1.0  # one a second keeps a recovery oldest first (replay_page)


def start_replay(
    tenant: str,
    subscription_id: str,
    request: subs.ReplayRequest,
    *,
    trigger: str = "replay",
) -> dict[str, Any]:
    """202 body: counts the window on the timeline index (keys and type only, about
    4,000 events per 1 MB read) and hands the sending to the queue, page by page.
    409 while another replay of the subscription runs."""
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
    if not fairness.lock_replay(tenant, subscription_id, replay_id, now):
        raise Conflict("A replay of this subscription is running; try again when it is done.")
    job = {
        "kind": "replay",
        "tenant": tenant,
        "subscription_id": subscription_id,
        "replay_id": replay_id,
        "trigger": "recovery" if trigger == "recovery" else "replay",
        "since": since,
        "until": until,
        "filters": filters,
        "shard": 0,
        "start": None,
    }
    try:
        messages.send([(json.dumps(job, separators=(",", ":")), 0)])
    except Exception:
        fairness.unlock_replay(tenant, subscription_id, replay_id)
        raise
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
    table, pk = settings().events_table, layout.timeline_pk(tenant, shard)
    sort = dynamo.SortKey.between(since, until)
    if limit is None:
        return dynamo.query_partition_all(table, tenant, pk, index=TIMELINE, sort=sort)
    return dynamo.query_partition(
        table, tenant, pk, index=TIMELINE, sort=sort, start=start, limit=limit
    ).items


def replay_page(job: Mapping[str, Any]) -> int:
    """Send one page of a replay, paced, and the job for the next page (due when this
    page's deliveries are); returns events sent."""
    tenant, subscription_id = str(job["tenant"]), str(job["subscription_id"])
    replay_id = str(job["replay_id"])
    subscription = subs.load(tenant, subscription_id)
    if subscription is None:
        fairness.unlock_replay(tenant, subscription_id, replay_id)
        return 0
    if not fairness.hold_replay(tenant, subscription_id, replay_id, clock.now()):
        return 0  # its lock expired and another replay took over: this one stops
    shard = int(job.get("shard") or 0)
    page = dynamo.query_partition(
        settings().events_table,
        tenant,
        layout.timeline_pk(tenant, shard),
        index=TIMELINE,
        sort=dynamo.SortKey.between(str(job["since"]), str(job["until"])),
        limit=REPLAY_PAGE,
        start=job.get("start"),
    )
    deliveries = _deliveries(job, page.items)
    rate = float(subscription.item.get("rate_limit_per_second") or REPLAY_RATE)
    if job.get("trigger") == "recovery":
        # Oldest first: a standard queue (and its concurrent workers) may reorder what
        # becomes visible in the same second, and delays are whole seconds, so a
        # recovery's deliveries become visible one a second, in order.
        rate = RECOVERY_RATE
    bodies = [(d.body(), int(n // rate)) for n, d in enumerate(deliveries)]
    following = _next_job(job, shard, page.last_key)
    if following is not None:
        wait = min(messages.SQS_MAX_DELAY_SECONDS, math.ceil(len(deliveries) / rate))
        bodies.append((json.dumps(following, separators=(",", ":"), default=str), wait))
    messages.send(bodies)
    if following is None:
        fairness.unlock_replay(tenant, subscription_id, replay_id)
    return len(deliveries)


def _deliveries(job: Mapping[str, Any], items: Iterable[Mapping[str, Any]]) -> list[Delivery]:
    trigger = "recovery" if job.get("trigger") == "recovery" else "replay"
    tenant, subscription_id = str(job["tenant"]), str(job["subscription_id"])
    round_name = f"R{job['replay_id']}"
    wanted = [
        Delivery(tenant, subscription_id, _event_id(item), 1, round_name, trigger)
        for item in items
        if _wanted(job.get("filters") or {}, str(item.get("event_type", "")))
    ]
    if trigger != "recovery" or not wanted:
        return wanted
    # A recovery's window opens a little before the pause (an event received just before
    # it may have reached the worker after it, and was dropped): what was delivered live
    # meanwhile is not sent twice.  One BatchGetItem per page of up to 100 events.
    live = [Delivery(tenant, subscription_id, d.event_id).state_key for d in wanted]
    done = {
        str(item["event_id"])
        for item in dynamo.batch_get(settings().hooks_table, live)
        if item.get("status") == messages.SUCCEEDED
    }
    return [d for d in wanted if d.event_id not in done]


def _event_id(timeline_item: Mapping[str, Any]) -> str:
    return str(timeline_item["tlsk"]).rsplit("#", 1)[1]


def _next_job(
    job: Mapping[str, Any], shard: int, last_key: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if last_key is not None:
        return {**job, "shard": shard, "start": dict(last_key)}
    if shard + 1 < settings().inbox_shards:
        return {**job, "shard": shard + 1, "start": None}
    return None
