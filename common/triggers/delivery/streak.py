"""A subscription's failure streak: the figures each attempt writes on the
subscription item, and when failures disable it.

* `failing_since`: ISO time of the first failed attempt of the current streak, set
  by a failed attempt when unset, removed by a success;
* `consecutive_failures`: exhausted events in a row (a success resets it);
* disabled after 5 exhausted events in a row, after 5 days of failing, or at once
  when the receiver answers `410 Gone` (Standard Webhooks: the endpoint is gone),
  with a `subscription.disabled` event in the tenant's inbox, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.observability import logger
from common.store import dynamo, transact
from common.store.tables import PK
from common.triggers import events, outbound
from common.triggers import subscriptions as subs
from common.triggers.delivery.messages import Delivery

DISABLE_AFTER_EXHAUSTED = 5
DISABLE_AFTER_FAILING_SECONDS = 5 * 86_400
GONE = 410


def subscription_update(
    delivery: Delivery, result: outbound.Result, now: float, exhausted: bool
) -> dict[str, Any]:
    """The transaction item that records one attempt on the subscription."""
    key = subs.subscription_key(delivery.tenant, delivery.subscription_id)
    if result.ok:
        expression = "SET last_success_at = :now, consecutive_failures = :zero REMOVE failing_since"
        values: dict[str, Any] = {":now": clock.iso(now), ":zero": 0}
    else:
        expression = (
            "SET last_failure_at = :now, failing_since = if_not_exists(failing_since, :now)"
        )
        values = {":now": clock.iso(now)}
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


def failing_since(item: Mapping[str, Any]) -> float | None:
    """Epoch seconds of `failing_since` (ISO; items written before it was ISO hold an
    epoch number)."""
    value = item.get("failing_since")
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return clock.parse_iso(str(value)).timestamp()
    except ValueError:
        return None


def after_failure(
    subscription: subs.Subscription, result: outbound.Result, now: float, exhausted: bool
) -> bool:
    """Disable the subscription when this failure says so; True when it did."""
    failures = subscription.consecutive_failures + (1 if exhausted else 0)
    if result.status_code == GONE:
        return disable(subscription, now, "gone", failures)
    since = failing_since(subscription.item)
    if failures >= DISABLE_AFTER_EXHAUSTED:
        return disable(subscription, now, "consecutive_exhausted_events", failures)
    if since is not None and now - since >= DISABLE_AFTER_FAILING_SECONDS:
        return disable(subscription, now, "failing_for_5_days", failures)
    return False


def disable(subscription: subs.Subscription, now: float, reason: str, failures: int) -> bool:
    """Active → disabled with a `subscription.disabled` event, in one transaction."""
    since = failing_since(subscription.item)
    payload = {
        "subscription_id": subscription.id,
        "url": subscription.url,
        "reason": reason,
        "consecutive_failures": failures,
        "failing_since": clock.iso(since) if since is not None else clock.iso(now),
    }
    _, event_items = events.system_event_ops(
        subscription.tenant, "subscription.disabled", "dockhand.delivery", payload, now
    )
    update = dynamo.update_op(
        settings().hooks_table,
        subs.subscription_key(subscription.tenant, subscription.id),
        "SET #status = :disabled, disabled_at = :now",
        condition="#status = :active",
        names={"#status": "status"},
        values={":disabled": subs.DISABLED, ":active": subs.ACTIVE, ":now": clock.iso(now)},
    )
    if transact.run([update, *event_items]) is not None:
        return False  # already disabled, paused or deleted by someone else
    catalogue.count("subscriptions_disabled")
    logger.warning(
        "subscription disabled",
        extra={"tenant": subscription.tenant, "subscription_id": subscription.id, "reason": reason},
    )
    return True
