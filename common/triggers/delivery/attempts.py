"""Attempts: one delivery message → (its turn: fairness.py) → sign, POST, then ONE
transaction records the attempt (delivery state + log line + subscription figures +
day counters); then the retry is scheduled and the streak may disable the subscription.

A scheduled retry is durable the moment the attempt is recorded: its state carries
the due-time index keys.  Delays SQS can hold (<= 15 min) are also sent at once with
DelaySeconds (the fast path), their index entry set 2 min past the due time as a
backstop (retries.py sends it if the message is lost).  Retry times carry ±10 %
jitter; a 429 or 503 with `Retry-After` puts the next attempt at least that far
(capped at 1 h); a 410 ends the deliveries and disables the subscription.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.errors import NotFound
from common.runtime.observability import logger, metrics
from common.store import counters, dynamo, transact
from common.store.tables import GSI1_PK, GSI1_SK, PK
from common.triggers import events, outbound, webhooks
from common.triggers import subscriptions as subs
from common.triggers.delivery import fairness, messages, parking, streak
from common.triggers.delivery.messages import (
    ABANDONED,
    BACKSTOP_SECONDS,
    EXHAUSTED,
    RETRYING,
    SQS_MAX_DELAY_SECONDS,
    SUCCEEDED,
    Delivery,
)

JITTER = 0.1
RETRY_AFTER_CAP_SECONDS = 3600
HONOUR_RETRY_AFTER = frozenset({429, 503})
_metrics_lock = threading.Lock()  # a batch's sends run on threads (handlers/deliver.py)


@dataclass(frozen=True)
class AttemptOutcome:
    """What one message did: for logs and tests."""

    action: str  # "sent", "duplicate", "gone", "disabled", "paused", "deferred", "parked"
    result: outbound.Result | None = None


def deliver_message(delivery: Delivery, *, sent_at_ms: int | None = None) -> AttemptOutcome:
    """Handle one delivery message; raises only when it must be retried by SQS."""
    now = clock.now()
    if sent_at_ms is not None:
        with _metrics_lock:
            catalogue.record("delivery_queue_age", max(0, now * 1000 - sent_at_ms))
    subscription = subs.load(delivery.tenant, delivery.subscription_id)
    if subscription is None:
        return _abandon(delivery, "gone")
    if subscription.status != subs.ACTIVE:  # paused or disabled: not sent, not retried
        return _abandon(delivery, "paused" if subscription.status == "paused" else "disabled")
    if delivery.parked:
        if not parking.claim(delivery.tenant, delivery.parked):
            return AttemptOutcome("duplicate")  # the other copy of a parked message went on
        delivery = dataclasses.replace(delivery, parked="")
    turn = _take_turn(delivery, subscription, now)
    if isinstance(turn, AttemptOutcome):
        return turn  # parked or paced: its state is checked when its turn comes
    try:
        if not _expected(delivery):
            return AttemptOutcome("duplicate")
        return _send(delivery, subscription)
    finally:
        parking.release_and_wake(turn)


def _take_turn(
    delivery: Delivery, subscription: subs.Subscription, now: float
) -> fairness.Lease | AttemptOutcome:
    """The slots to send now, or what became of the message: deferred to its paced
    moment, or parked while its tenant or subscription is at its share."""
    wait = _pace(delivery, subscription, now)
    if wait >= 1.0:
        return _defer(delivery, now, wait)
    if wait > 0:
        # SQS delays in whole seconds: under a second is waited here, so paced sends
        # leave at their reserved moments instead of bunching at the next whole second.
        clock.sleep(wait)
        now = clock.now()
    turn = fairness.acquire(delivery.tenant, delivery.subscription_id, now)
    if isinstance(turn, fairness.Lease):
        return turn
    parked = parking.park(delivery, own_line=turn.subscription_full)
    with _metrics_lock:
        catalogue.count("deliveries_parked")
    again = fairness.acquire(delivery.tenant, delivery.subscription_id, now)  # one more look
    if not isinstance(again, fairness.Lease):
        return AttemptOutcome("parked")
    if not parking.claim(delivery.tenant, parked):  # woken meanwhile: that copy goes on
        parking.release_and_wake(again)
        return AttemptOutcome("parked")
    return again


def _pace(delivery: Delivery, subscription: subs.Subscription, now: float) -> float:
    """Seconds this delivery must still wait for its subscription's rate limit."""
    rate = subscription.item.get("rate_limit_per_second")
    if not rate:
        return 0.0
    if not delivery.due_ms:
        return fairness.reserve(delivery.tenant, delivery.subscription_id, float(rate), now)
    return max(0.0, delivery.due_ms / 1000 - now)


def _defer(delivery: Delivery, now: float, seconds: float) -> AttemptOutcome:
    """Back to the queue until just before its paced moment (SQS holds up to 15 min; a
    later moment is reached in several hops): waiting holds no worker.  SQS counts
    whole seconds, so the message comes back up to a second early and the rest is
    waited in process (`_take_turn`)."""
    due_ms = delivery.due_ms or int((now + seconds) * 1000)
    later = dataclasses.replace(delivery, due_ms=due_ms)
    delay = max(1, min(SQS_MAX_DELAY_SECONDS, math.floor(seconds)))
    messages.send([(later.body(), delay)])
    with _metrics_lock:
        catalogue.count("deliveries_paced")
    return AttemptOutcome("deferred")


def _send(delivery: Delivery, subscription: subs.Subscription) -> AttemptOutcome:
    try:
        event = events.get_event(delivery.tenant, delivery.event_id)
    except NotFound:
        return _abandon(delivery, "gone")
    body = webhooks.delivery_body(event)
    timestamp = int(clock.now())
    signed = webhooks.headers(
        subscription.signing_keys(timestamp),
        webhooks.message_id(delivery.subscription_id, delivery.event_id),
        timestamp,
        body,
    )
    custom = subscription.item.get("headers") or {}
    headers = {**{str(k): str(v) for k, v in dict(custom).items()}, **signed}
    result = outbound.deliver(
        subscription.url, body, headers, allow_loopback=settings().allow_loopback_targets
    )
    _observe(result, event)
    recorded = record_attempt(delivery, subscription, result)
    return AttemptOutcome("sent" if recorded else "duplicate", result)


def _abandon(delivery: Delivery, why: str) -> AttemptOutcome:
    """Nothing to send (subscription deleted, paused or disabled, event expired): take
    a scheduled retry out of the due-time index so the retry function stops sending it."""
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
    with _metrics_lock:
        catalogue.count("delivery_attempts")
        catalogue.record("delivery_duration", result.duration_ms)
        if result.ok:
            received = clock.parse_iso(str(event["received_at"])).timestamp()
            catalogue.record("delivery_latency", max(0.0, (clock.now() - received) * 1000))
            return
        # Its own blob: `failure_class` must not multiply the other metrics' dimensions.
        messages.flush()
        metrics.add_dimension(name="failure_class", value=result.outcome)
        catalogue.count("delivery_failures")
        messages.flush()


# ---------------------------------------------------------------- when the next attempt


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delay-seconds or HTTP-date) in seconds, capped at 1 h."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(int(text[:8]))
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(float(RETRY_AFTER_CAP_SECONDS), max(0.0, seconds))


def next_retry_delay(attempt: int, result: outbound.Result, now: float) -> float:
    """The schedule's delay with ±10 % jitter, at least the receiver's Retry-After."""
    base = messages.retry_delay(attempt) * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    asked = retry_after_seconds(result.retry_after, now)
    if result.status_code in HONOUR_RETRY_AFTER and asked is not None:
        return max(base, asked)
    return base


# ---------------------------------------------------------------- recording


def record_attempt(
    delivery: Delivery, subscription: subs.Subscription, result: outbound.Result
) -> bool:
    """Record the attempt, its figures and the next retry in one transaction; then
    send a fast-path retry and disable the subscription when its failures say so.
    False when another worker already recorded this attempt (a duplicate message)."""
    now = clock.now()
    final = result.ok or result.status_code == streak.GONE
    exhausted = not result.ok and (final or delivery.attempt >= messages.MAX_ATTEMPTS)
    retry_at = None if final or exhausted else now + next_retry_delay(delivery.attempt, result, now)
    named = {
        "state": dynamo.put_op(
            settings().hooks_table,
            _state_item(delivery, result, now, retry_at, exhausted),
            **_expects(delivery),
        ),
        "log": dynamo.put_op(settings().hooks_table, _log_item(delivery, result, now, retry_at)),
        "subscription": streak.subscription_update(delivery, result, now, exhausted),
        "figures": counters.update_item(delivery.tenant, _figures(result, exhausted), now),
    }
    reasons = transact.run(list(named.values()))
    if reasons is not None:
        why = dict(zip(named, reasons, strict=True))
        if transact.failed_condition(why["state"]) or transact.failed_condition(
            why["subscription"]
        ):
            return False  # recorded by another worker, or the subscription is gone
        raise RuntimeError(f"recording cancelled: {sorted(transact.codes(reasons))}")
    if retry_at is not None and retry_at - now <= SQS_MAX_DELAY_SECONDS:
        retry = dataclasses.replace(delivery, attempt=delivery.attempt + 1, due_ms=0)
        try:
            messages.send([(retry.body(), round(retry_at - now))])
        except Exception:  # the due-time index has it: the retry function sends it late
            logger.warning("fast-path retry not sent; the retry function will", exc_info=True)
    if not result.ok:
        streak.after_failure(subscription, result, now, exhausted)
    return True


def _log_item(
    delivery: Delivery, result: outbound.Result, now: float, retry_at: float | None
) -> dict[str, Any]:
    item = subs.log_item(
        delivery.tenant,
        delivery.subscription_id,
        event_id=delivery.event_id,
        attempt=delivery.attempt,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        attempted_at=now,
        next_attempt_at=retry_at,
    )
    return {**item, "trigger": delivery.log_trigger}


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
        "expires_at": int(now) + keep + int(sum(messages.RETRY_SCHEDULE_SECONDS)),
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
        GSI1_PK: messages.due_pk(random.randrange(settings().due_shards)),  # noqa: S311 - load spreading
        GSI1_SK: messages.due_sk(backstop, delivery),
    }


def _figures(result: outbound.Result, exhausted: bool) -> dict[str, int]:
    if result.ok:
        return {"deliveries_succeeded": 1}
    if exhausted:
        return {"deliveries_failed": 1, "deliveries_exhausted": 1}
    return {"deliveries_failed": 1}
