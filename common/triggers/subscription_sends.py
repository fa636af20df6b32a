"""Sends a tenant asks for by hand: a test send (synchronous, synthetic event) and a
resend of one retained event (queued like any delivery)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound
from common.runtime.models import Count, Id
from common.store import dynamo
from common.triggers import events, outbound, webhooks
from common.triggers import subscriptions as subs
from common.triggers.delivery import messages

TEST_EVENT_TYPE = "webhook.test"
TEST_SOURCE = "dockhand.test"
RESEND_ROUND_PREFIX = "S"  # delivery rounds: `live`, `R<replay id>`, `S<resend id>`


@with_config(ConfigDict(extra="forbid", title="TestSendResult"))
class TestSendView(TypedDict):
    """What the receiver answered to the test send (the response body is never kept)."""

    status_code: Annotated[int, Field(ge=100, le=599)] | None
    error: str | None
    duration_ms: Count


@with_config(ConfigDict(extra="forbid", title="ResendAccepted"))
class ResendView(TypedDict):
    subscription_id: Id
    event_id: Id
    webhook_id: Annotated[str, Field(description="The event's original webhook-id.")]


def synthetic_event(subscription_id: str, now: float) -> dict[str, Any]:
    """Shaped like GET /events/{id}, so a receiver's parser is exercised; stored nowhere."""
    return {
        "event_id": ids.new_id(),
        "event_type": TEST_EVENT_TYPE,
        "payload": {
            "message": "A test delivery from dockhand: verify its signature and answer 2xx.",
            "subscription_id": subscription_id,
        },
        "source": TEST_SOURCE,
        "occurred_at": None,
        "received_at": clock.iso(now),
        "status": "delivered",
        "delivered_at": clock.iso(now),
    }


def test_send(tenant: str, subscription_id: str) -> TestSendView:
    """One signed POST now, whatever the status (it tells whether a receiver is back
    before resuming), through the SSRF-guarded sender; logged with trigger `test`.
    It changes no failure figure: a test is not a delivery."""
    subscription = subs.get(tenant, subscription_id)
    now = clock.now()
    event = synthetic_event(subscription.id, now)
    body = webhooks.delivery_body(event)
    timestamp = int(now)
    signed = webhooks.headers(
        subscription.signing_keys(timestamp),
        webhooks.message_id(subscription.id, str(event["event_id"])),
        timestamp,
        body,
    )
    result = outbound.deliver(
        subscription.url,
        body,
        {**subscription.headers, **signed},
        allow_loopback=settings().allow_loopback_targets,
    )
    line = subs.log_item(
        tenant,
        subscription.id,
        event_id=str(event["event_id"]),
        attempt=1,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        attempted_at=clock.now(),
        next_attempt_at=None,
    )
    dynamo.put(settings().hooks_table, {**line, "trigger": "test"})
    return {
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": result.duration_ms,
    }


def resend(tenant: str, subscription_id: str, event_id: str) -> ResendView:
    """Queue one retained event again, with its original webhook-id.  404 for an event
    this subscription never matched (another type, older than the subscription, or not
    retained); 409 while the subscription is not active (nothing would be sent)."""
    subscription = subs.get(tenant, subscription_id)
    missing = NotFound("No such event for this subscription.")
    try:
        event = events.get_event(tenant, event_id)
    except NotFound:
        raise missing from None
    if not subs.matches(subscription.event_types, event["event_type"]):
        raise missing
    if event["received_at"] < subscription.created_at:
        raise missing
    if subscription.status != subs.ACTIVE:
        raise Conflict(f"The subscription is {subscription.status}; enable it first.")
    round_name = RESEND_ROUND_PREFIX + ids.new_id()
    target = messages.Delivery(tenant, subscription.id, event_id, 1, round_name, "resend")
    messages.send([(target.body(), 0)])
    return {
        "subscription_id": subscription.id,
        "event_id": event_id,
        "webhook_id": webhooks.message_id(subscription.id, event_id),
    }
