"""Push delivery: fan-out from the events stream, one signed attempt at a time,
durable retries, auto-disable, replays.

Flow (docs/triggers.md, "Push delivery"):
  events table stream (INSERT of an event) → `dispatch_records` → one SQS message per
  (event, matching active subscription) → `deliver_message`: sign, POST, then ONE
  transaction records the attempt (delivery state + log line + subscription figures
  + day counters) → the retry, if any, is scheduled.

Delivery state (hooks table) pk `T#<tenant>#SUB#<id>#D`, sk `<event_id>#<round>`
(round `live`, or `R<replay id>`): `next_attempt` and `status`.  Recording attempt n
is conditional on the state still expecting n, so a message handled twice (SQS is
at-least-once; a worker that died after sending and before recording) records once,
and a duplicate that arrives after the record is dropped without sending.

Retries at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (divided by
DOCKHAND_RETRY_DIVISOR locally).  The state of a retrying delivery carries the
due-time index keys (gsi1, sharded `DUE#<n>`, sort `<due ms>#...`), written in the
same transaction as the attempt, so a scheduled retry is durable the moment the
attempt is recorded.  Delays SQS can hold (≤ 15 min) are also sent at once with
DelaySeconds (the fast path), and their index entry is set 2 min past the due time
as a backstop; the `retry` function (every minute) sends whatever is due and claims
it by moving its index entry 15 min on, so a lost message comes back again.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.runtime.observability import logger, metrics
from common.store import aws, counters, ddb, dynamo, transact
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, PK, SK, TIMELINE, TIMELINE_PK, TIMELINE_SK
from common.triggers import events, layout, outbound, webhooks
from common.triggers import subscriptions as subs

RETRY_SCHEDULE_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS) + 1
SQS_MAX_DELAY_SECONDS = 900
BACKSTOP_SECONDS = 120
CLAIM_SECONDS = 900
DISABLE_AFTER_EXHAUSTED = 5
DISABLE_AFTER_FAILING_SECONDS = 5 * 86_400
REPLAY_PAGE = 100
LIVE = "live"
RETRYING, SUCCEEDED, EXHAUSTED, ABANDONED = "retrying", "succeeded", "exhausted", "abandoned"
EVENT_SK = "E"


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event to one subscription."""

    tenant: str
    subscription_id: str
    event_id: str
    attempt: int = 1
    round: str = LIVE

    def body(self) -> str:
        return json.dumps(
            {
                "kind": "deliver",
                "tenant": self.tenant,
                "subscription_id": self.subscription_id,
                "event_id": self.event_id,
                "attempt": self.attempt,
                "round": self.round,
            },
            separators=(",", ":"),
        )

    @property
    def state_key(self) -> dict[str, str]:
        return {
            PK: subs.state_pk(self.tenant, self.subscription_id),
            SK: f"{self.event_id}#{self.round}",
        }


def parse_delivery(body: Mapping[str, Any]) -> Delivery:
    attempt = body.get("attempt")
    if not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError("attempt out of range")
    return Delivery(
        tenant=str(body["tenant"]),
        subscription_id=str(body["subscription_id"]),
        event_id=str(body["event_id"]),
        attempt=attempt,
        round=str(body.get("round") or LIVE),
    )


def retry_delay(attempt: int) -> float:
    """Seconds between failed attempt `attempt` and the next (locally divided)."""
    return max(1.0, RETRY_SCHEDULE_SECONDS[attempt - 1] / settings().retry_divisor)


def _queue_url() -> str:
    url = settings().delivery_queue_url
    if not url:
        raise RuntimeError("DOCKHAND_DELIVERY_QUEUE_URL is not set")
    return url


def send(bodies: Sequence[tuple[str, int]]) -> None:
    """SendMessageBatch, 10 a request; raises if any message was not accepted."""
    sqs = aws.client("sqs")
    for first in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body, "DelaySeconds": max(0, min(delay, 900))}
            for i, (body, delay) in enumerate(bodies[first : first + 10])
        ]
        result = sqs.send_message_batch(QueueUrl=_queue_url(), Entries=entries)
        if result.get("Failed"):
            codes = sorted({str(f.get("Code")) for f in result["Failed"]})
            logger.warning(
                "SQS refused messages", extra={"failed": len(result["Failed"]), "codes": codes}
            )
            raise ServiceUnavailable(retry_after=1)


# ---------------------------------------------------------------- dispatch (stream)


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
            send([(target.body(), 0) for target in targets])
            sent += len(targets)
        except Exception:
            logger.exception("dispatch failed; the stream retries from this record")
            catalogue.count("deliveries_dispatched", sent)
            return [str((record.get("dynamodb") or {}).get("SequenceNumber", ""))]
    catalogue.count("deliveries_dispatched", sent)
    return []


# ---------------------------------------------------------------- deliver (queue)


@dataclass(frozen=True)
class AttemptOutcome:
    """What one message did: for logs and tests."""

    action: str  # "sent", "duplicate", "gone", "disabled"
    result: outbound.Result | None = None


def deliver_message(delivery: Delivery, *, sent_at_ms: int | None = None) -> AttemptOutcome:
    """Handle one delivery message; raises only when it must be retried by SQS."""
    now = clock.now()
    if sent_at_ms is not None:
        catalogue.record("delivery_queue_age", max(0, now * 1000 - sent_at_ms))
    subscription = subs.load(delivery.tenant, delivery.subscription_id)
    if subscription is None:
        return _abandon(delivery, "gone")
    if subscription.status != subs.ACTIVE:
        return _abandon(delivery, "disabled")
    if not _expected(delivery):
        return AttemptOutcome("duplicate")
    try:
        event = events.get_event(delivery.tenant, delivery.event_id)
    except NotFound:
        return _abandon(delivery, "gone")
    body = webhooks.delivery_body(event)
    timestamp = int(clock.now())
    headers = webhooks.headers(
        subscription.signing_keys(timestamp),
        webhooks.message_id(delivery.subscription_id, delivery.event_id),
        timestamp,
        body,
    )
    result = outbound.deliver(
        subscription.url, body, headers, allow_loopback=settings().allow_loopback_targets
    )
    _observe(result, event)
    recorded = record_attempt(delivery, subscription, result)
    return AttemptOutcome("sent" if recorded else "duplicate", result)


def _abandon(delivery: Delivery, why: str) -> AttemptOutcome:
    """Nothing to send (subscription deleted or disabled, event expired): take a
    scheduled retry out of the due-time index so the retry function stops sending it."""
    if delivery.attempt > 1:
        # ConditionFailed: already attempted or abandoned through another message.
        with contextlib.suppress(dynamo.ConditionFailed):
            dynamo.update(
                settings().hooks_table,
                delivery.state_key,
                "SET #status = :abandoned REMOVE #due_pk, #due_sk",
                condition="#status = :retrying AND next_attempt = :n",
                names={"#status": "status", "#due_pk": GSI1_PK, "#due_sk": GSI1_SK},
                values={":abandoned": ABANDONED, ":retrying": RETRYING, ":n": delivery.attempt},
            )
    return AttemptOutcome(why)


def _expected(delivery: Delivery) -> bool:
    state = dynamo.get(settings().hooks_table, delivery.state_key)
    if state is None:
        return delivery.attempt == 1
    return state.get("status") == RETRYING and int(state.get("next_attempt", 0)) == delivery.attempt


def _observe(result: outbound.Result, event: Mapping[str, Any]) -> None:
    catalogue.count("delivery_attempts")
    catalogue.record("delivery_duration", result.duration_ms)
    if result.ok:
        received = clock.parse_iso(str(event["received_at"])).timestamp()
        catalogue.record("delivery_latency", max(0.0, (clock.now() - received) * 1000))
        return
    # Its own blob: `failure_class` must not multiply the other metrics' dimensions.
    flush()
    metrics.add_dimension(name="failure_class", value=result.outcome)
    catalogue.count("delivery_failures")
    flush()


def flush() -> None:
    """Flush what was counted (nothing to flush is not worth powertools' warning)."""
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()  # flush does not clear when metrics are disabled


def record_attempt(
    delivery: Delivery, subscription: subs.Subscription, result: outbound.Result
) -> bool:
    """Record the attempt, its figures and the next retry in one transaction; then
    send a fast-path retry and disable the subscription when its failures say so.
    False when another worker already recorded this attempt (a duplicate message)."""
    now = clock.now()
    exhausted = not result.ok and delivery.attempt >= MAX_ATTEMPTS
    retry_at = None if result.ok or exhausted else now + retry_delay(delivery.attempt)
    state = _state_item(delivery, result, now, retry_at, exhausted)
    items = [
        dynamo.put_op(settings().hooks_table, state, **_expects(delivery)),
        dynamo.put_op(
            settings().hooks_table,
            subs.log_item(
                delivery.tenant,
                delivery.subscription_id,
                event_id=delivery.event_id,
                attempt=delivery.attempt,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
                attempted_at=now,
                next_attempt_at=retry_at,
            ),
        ),
        _subscription_update(delivery, result, now, exhausted),
        counters.update_item(delivery.tenant, _figures(result, exhausted), now),
    ]
    reasons = transact.run(items)
    if reasons is not None:
        if transact.failed_condition(reasons[0]) or transact.failed_condition(reasons[2]):
            return False  # recorded by another worker, or the subscription is gone
        raise RuntimeError(f"recording cancelled: {sorted(transact.codes(reasons))}")
    if retry_at is not None and retry_at - now <= SQS_MAX_DELAY_SECONDS:
        retry = Delivery(
            delivery.tenant,
            delivery.subscription_id,
            delivery.event_id,
            delivery.attempt + 1,
            delivery.round,
        )
        try:
            send([(retry.body(), round(retry_at - now))])
        except Exception:  # the due-time index has it: the retry function sends it late
            logger.warning("fast-path retry not sent; the retry function will", exc_info=True)
    if not result.ok:
        _maybe_disable(subscription, now, exhausted)
    return True


def _expects(delivery: Delivery) -> dict[str, Any]:
    if delivery.attempt == 1:
        return {"condition": "attribute_not_exists(#pk)", "names": {"#pk": PK}}
    return {
        "condition": "#status = :retrying AND next_attempt = :n",
        "names": {"#status": "status"},
        "values": {":retrying": RETRYING, ":n": delivery.attempt},
    }


def _state_item(
    delivery: Delivery,
    result: outbound.Result,
    now: float,
    retry_at: float | None,
    exhausted: bool,
) -> dict[str, Any]:
    keep = (settings().delivered_retention_days + 2) * 86_400
    item: dict[str, Any] = {
        **delivery.state_key,
        "tenant": delivery.tenant,
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "round": delivery.round,
        "last_attempt": delivery.attempt,
        "updated_at": clock.iso(now),
        "expires_at": int(now) + keep + int(sum(RETRY_SCHEDULE_SECONDS)),
    }
    if result.ok:
        return {**item, "status": SUCCEEDED}
    if exhausted or retry_at is None:
        return {**item, "status": EXHAUSTED}
    backstop = retry_at + (BACKSTOP_SECONDS if retry_at - now <= SQS_MAX_DELAY_SECONDS else 0)
    return {
        **item,
        "status": RETRYING,
        "next_attempt": delivery.attempt + 1,
        "next_due_ms": int(retry_at * 1000),
        GSI1_PK: _due_pk(random.randrange(settings().due_shards)),  # noqa: S311 - load spreading
        GSI1_SK: _due_sk(backstop, delivery),
    }


def _due_pk(shard: int) -> str:
    return f"DUE#{shard}"


def _due_sk(moment: float, delivery: Delivery) -> str:
    ids_part = f"{delivery.tenant}#{delivery.subscription_id}#{delivery.event_id}#{delivery.round}"
    return f"{int(moment * 1000):013d}#{ids_part}"


def _subscription_update(
    delivery: Delivery, result: outbound.Result, now: float, exhausted: bool
) -> dict[str, Any]:
    key = subs.subscription_key(delivery.tenant, delivery.subscription_id)
    if result.ok:
        expression = "SET last_success_at = :now, consecutive_failures = :zero REMOVE failing_since"
        values: dict[str, Any] = {":now": clock.iso(now), ":zero": 0}
    else:
        expression = (
            "SET last_failure_at = :now, failing_since = if_not_exists(failing_since, :epoch)"
        )
        values = {":now": clock.iso(now), ":epoch": int(now)}
        if exhausted:
            expression += " ADD consecutive_failures :one"
            values[":one"] = 1
    return dynamo.update_op(
        settings().hooks_table,
        key,
        expression,
        condition="attribute_exists(#pk)",
        names={"#pk": PK},
        values=values,
    )


def _figures(result: outbound.Result, exhausted: bool) -> dict[str, int]:
    if result.ok:
        return {"deliveries_succeeded": 1}
    if exhausted:
        return {"deliveries_failed": 1, "deliveries_exhausted": 1}
    return {"deliveries_failed": 1}


def _maybe_disable(subscription: subs.Subscription, now: float, exhausted: bool) -> bool:
    """Disable after 5 exhausted events in a row, or 5 days of failing; with a
    `subscription.disabled` event in the tenant's inbox, in the same transaction."""
    failures = subscription.consecutive_failures + (1 if exhausted else 0)
    since = subscription.failing_since
    too_many = failures >= DISABLE_AFTER_EXHAUSTED
    too_long = since is not None and now - since >= DISABLE_AFTER_FAILING_SECONDS
    if not (too_many or too_long):
        return False
    payload = {
        "subscription_id": subscription.id,
        "url": subscription.url,
        "reason": "consecutive_exhausted_events" if too_many else "failing_for_5_days",
        "consecutive_failures": failures,
        "failing_since": clock.iso(since) if since is not None else None,
    }
    _, event_items = events.system_event_ops(
        subscription.tenant, "subscription.disabled", "dockhand.delivery", payload, now
    )
    disable = dynamo.update_op(
        settings().hooks_table,
        subs.subscription_key(subscription.tenant, subscription.id),
        "SET #status = :disabled, disabled_at = :now",
        condition="#status = :active",
        names={"#status": "status"},
        values={":disabled": subs.DISABLED, ":active": subs.ACTIVE, ":now": clock.iso(now)},
    )
    if transact.run([disable, *event_items]) is not None:
        return False  # already disabled (or deleted) by another worker
    catalogue.count("subscriptions_disabled")
    logger.warning(
        "subscription disabled",
        extra={
            "tenant": subscription.tenant,
            "subscription_id": subscription.id,
            "reason": payload["reason"],
        },
    )
    return True


# ---------------------------------------------------------------- retries (due index)


def sweep_due(now: float | None = None, budget_seconds: float = 40.0) -> int:
    """Send every retry whose due time has passed; returns how many were sent."""
    now = clock.now() if now is None else now
    deadline = time.monotonic() + budget_seconds
    sent = 0
    for shard in range(settings().due_shards):
        start: Mapping[str, Any] | None = None
        while time.monotonic() < deadline:
            page = dynamo.query(
                settings().hooks_table,
                "#pk = :pk AND #sk <= :now",
                names={"#pk": GSI1_PK, "#sk": GSI1_SK},
                values={":pk": _due_pk(shard), ":now": f"{int(now * 1000):013d}~"},
                index=GSI1,
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
                    ":claimed": _due_sk(now + CLAIM_SECONDS, delivery),
                    ":seen": item[GSI1_SK],
                    ":retrying": RETRYING,
                },
            )
        except dynamo.ConditionFailed:
            continue  # attempted meanwhile, or claimed by an overlapping run
        delay = int(max(0, int(item.get("next_due_ms", 0)) / 1000 - now))
        bodies.append((delivery.body(), min(delay, SQS_MAX_DELAY_SECONDS)))
    send(bodies)
    return len(bodies)


# ---------------------------------------------------------------- replays


def start_replay(tenant: str, subscription_id: str, request: subs.ReplayRequest) -> dict[str, Any]:
    """202 body: counts the window on the timeline index (keys and type only, about
    4,000 events per 1 MB read) and hands the sending to the queue, page by page."""
    subscription = subs.get(tenant, subscription_id)
    now = clock.now()
    since = str(request.since)
    until = str(request.until) if request.until else clock.iso(now)
    if until <= since:
        from common.runtime.errors import field_error

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
    send([(json.dumps(job, separators=(",", ":")), 0)])
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
        "values": {":pk": layout.timeline_pk(tenant, shard), ":since": since, ":until": until},
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
            ":pk": layout.timeline_pk(tenant, shard),
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
    send(bodies)
    return len(deliveries)


def _next_job(
    job: Mapping[str, Any], shard: int, last_key: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if last_key is not None:
        return {**job, "shard": shard, "start": dict(last_key)}
    if shard + 1 < settings().inbox_shards:
        return {**job, "shard": shard + 1, "start": None}
    return None
