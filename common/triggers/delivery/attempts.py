"""Attempts: one delivery message → sign, POST, then ONE transaction records the
attempt (delivery state + log line + subscription figures + day counters); then the
retry is scheduled and the subscription's streak may disable it.

A scheduled retry is durable the moment the attempt is recorded: its state carries
the due-time index keys.  Delays SQS can hold (<= 15 min) are also sent at once with
DelaySeconds (the fast path), their index entry set 2 min past the due time as a
backstop (retries.py sends it if the message is lost).
"""

from __future__ import annotations

import contextlib
import random
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
from common.triggers.delivery import messages
from common.triggers.delivery.messages import (
    ABANDONED,
    BACKSTOP_SECONDS,
    EXHAUSTED,
    RETRYING,
    SQS_MAX_DELAY_SECONDS,
    SUCCEEDED,
    Delivery,
)

DISABLE_AFTER_EXHAUSTED = 5
DISABLE_AFTER_FAILING_SECONDS = 5 * 86_400


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
    messages.flush()
    metrics.add_dimension(name="failure_class", value=result.outcome)
    catalogue.count("delivery_failures")
    messages.flush()


def record_attempt(
    delivery: Delivery, subscription: subs.Subscription, result: outbound.Result
) -> bool:
    """Record the attempt, its figures and the next retry in one transaction; then
    send a fast-path retry and disable the subscription when its failures say so.
    False when another worker already recorded this attempt (a duplicate message)."""
    now = clock.now()
    exhausted = not result.ok and delivery.attempt >= messages.MAX_ATTEMPTS
    retry_at = None if result.ok or exhausted else now + messages.retry_delay(delivery.attempt)
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
            messages.send([(retry.body(), round(retry_at - now))])
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
