"""Retries: the `retry` function sends every retry whose due time has passed (the
due-time index on the hooks table), claiming each by moving its index entry 15 min
on, so a lost message comes back again."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.store import dynamo
from common.store.tables import GSI1, GSI1_SK, PK, SK
from common.triggers.delivery import messages
from common.triggers.delivery.messages import LIVE, RETRYING, SQS_MAX_DELAY_SECONDS, Delivery

CLAIM_SECONDS = 900


def sweep_due(now: float | None = None, budget_seconds: float = 40.0) -> int:
    """Send every retry whose due time has passed; returns how many were sent."""
    now = clock.now() if now is None else now
    deadline = time.monotonic() + budget_seconds
    sent = 0
    for shard in range(settings().due_shards):
        start: Mapping[str, Any] | None = None
        while time.monotonic() < deadline:
            page = dynamo.query_partition(
                settings().hooks_table,
                dynamo.CROSS_TENANT,
                messages.due_pk(shard),
                index=GSI1,
                sort=dynamo.SortKey.at_most(f"{int(now * 1000):013d}~"),
                limit=100,
                start=start,
            )
            sent += _claim_and_send(page.items, now)
            if page.last_key is None:
                break
            start = page.last_key
    catalogue.count("delivery_retries_enqueued", sent)
    return sent


def _claim_and_send(items: Iterable[Mapping[str, Any]], now: float) -> int:
    bodies: list[tuple[str, int]] = []
    for item in items:
        delivery = Delivery(
            str(item["tenant"]),
            str(item["subscription_id"]),
            str(item["event_id"]),
            int(item["next_attempt"]),
            str(item.get("round") or LIVE),
        )
        try:
            dynamo.update(
                settings().hooks_table,
                {PK: item[PK], SK: item[SK]},
                "SET #sk = :claimed",
                condition="#sk = :seen AND #status = :retrying",
                names={"#sk": GSI1_SK, "#status": "status"},
                values={
                    ":claimed": messages.due_sk(now + CLAIM_SECONDS, delivery),
                    ":seen": item[GSI1_SK],
                    ":retrying": RETRYING,
                },
            )
        except dynamo.ConditionFailed:
            continue  # attempted meanwhile, or claimed by an overlapping run
        delay = int(max(0, int(item.get("next_due_ms", 0)) / 1000 - now))
        bodies.append((delivery.body(), min(delay, SQS_MAX_DELAY_SECONDS)))
    messages.send(bodies)
    return len(bodies)
