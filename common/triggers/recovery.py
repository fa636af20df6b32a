"""Recovery: after a pause or a disable, send what matched meanwhile (oldest first, each
with its own webhook-id), through the replay machinery.

Crash safety comes from the order of writes:
1. `enable` flips the status to active and records the recovery window on the
   subscription item IN THE SAME conditional update (`recovery_id`, `recovery_since`,
   `recovery_until`), together with a due-time entry on the hooks table's gsi1
   (`RECOVER#0` / `<due ms>#<tenant>#<subscription id>`, due 30 seconds on);
2. the request then starts the replay (`replays.start_replay`: one SQS message);
3. and clears the record, conditionally on its `recovery_id`.
A crash between 1 and 2 (or a queue that refused the message) leaves the record: the
`retry` function (every minute) finds it on the index once due, claims it by moving its
due time 15 minutes on (a conditional update, so overlapping runs start it once) and
starts it; an explicit enable (a client retrying its failed call) claims and starts it
at once.  A crash between 2 and 3 starts it a second time a minute later: receivers
get those events twice with the same webhook-id (at-least-once, as everywhere).

A window that was already pending when the subscription was paused again is widened,
never replaced, so an unfinished recovery is not lost by a second pause.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import ApiError, NotFound
from common.runtime.observability import logger
from common.store import dynamo
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, PK, SK
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays

# The enabling request's own start has this long before a sweep takes over: just over
# the `subscriptions` function's 25 s timeout, so the request is surely over by then.
GRACE_SECONDS = 30
CLAIM_SECONDS = 900
PENDING_PK = "RECOVER#0"
SWEEP_PAGE = 25


def due_sk(moment: float, tenant: str, subscription_id: str) -> str:
    return f"{int(moment * 1000):013d}#{tenant}#{subscription_id}"


def window_attributes(since: str, until: str, now: float, tenant: str, sid: str) -> dict[str, Any]:
    """What `enable` writes with the status flip: the window and its due-time entry."""
    return {
        "recovery_id": ids.new_id(),
        "recovery_since": since,
        "recovery_until": until,
        GSI1_PK: PENDING_PK,
        GSI1_SK: due_sk(now + GRACE_SECONDS, tenant, sid),
    }


def start(item: Mapping[str, Any]) -> bool:
    """Start the recovery recorded on a subscription item, then clear the record.
    True when it was started (or had nothing to send); False when it stays pending (a
    replay of the subscription is running, or it was paused again: a sweep retries)."""
    tenant, sid = str(item["tenant"]), str(item["subscription_id"])
    if item.get("status") != subs.ACTIVE:
        return False  # paused again first: the next enable widens this window and starts it
    since, until = str(item["recovery_since"]), str(item["recovery_until"])
    if until > since:
        request = subs.ReplayRequest(since=since, until=until)
        try:
            started = replays.start_replay(tenant, sid, request, trigger="recovery")
        except NotFound:
            return True  # deleted meanwhile: nothing to send, nothing left to clear
        except ApiError as error:  # e.g. 409: one replay at a time; the sweep retries
            logger.warning("recovery postponed", extra={"code": error.code, "sid": sid})
            return False
        logger.info(
            "recovery started",
            extra={"tenant": tenant, "subscription_id": sid, "events": started.get("events")},
        )
    _clear(item)
    return True


def _clear(item: Mapping[str, Any]) -> None:
    # ConditionFailed: widened by a later enable (that one is pending now), or deleted.
    with contextlib.suppress(dynamo.ConditionFailed):
        dynamo.update(
            settings().hooks_table,
            {PK: item[PK], SK: item[SK]},
            "REMOVE recovery_id, recovery_since, recovery_until, #gpk, #gsk",
            condition="recovery_id = :id",
            names={"#gpk": GSI1_PK, "#gsk": GSI1_SK},
            values={":id": item["recovery_id"]},
        )


def sweep_pending(now: float | None = None) -> int:
    """Start every recovery whose enabling request did not (the `retry` function
    calls this every minute); returns how many were started."""
    now = clock.now() if now is None else now
    page = dynamo.query_partition(
        settings().hooks_table,
        dynamo.CROSS_TENANT,
        PENDING_PK,
        index=GSI1,
        sort=dynamo.SortKey.at_most(f"{int(now * 1000):013d}~"),
        limit=SWEEP_PAGE,
    )
    started = 0
    for entry in page.items:
        item = claim(entry, now)
        if item is not None and start(item):
            started += 1
    return started


def claim(entry: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    """Move the entry's due time on (one claimant wins), returning the item; None when
    another sweep or enable claimed it first, or it was started and cleared."""
    tenant, sid = str(entry["tenant"]), str(entry["subscription_id"])
    try:
        return dynamo.update(
            settings().hooks_table,
            {PK: entry[PK], SK: entry[SK]},
            "SET #gsk = :claimed",
            condition="#gsk = :seen AND recovery_id = :id",
            names={"#gsk": GSI1_SK},
            values={
                ":claimed": due_sk(now + CLAIM_SECONDS, tenant, sid),
                ":seen": entry[GSI1_SK],
                ":id": entry["recovery_id"],
            },
            returns="ALL_NEW",
        )
    except dynamo.ConditionFailed:
        return None
