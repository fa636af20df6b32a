"""The deliveries log of a subscription (GET /subscriptions/{id}/deliveries): one line
per attempt, newest first, kept 30 days.  Lines are written by the delivery worker
(`subscriptions.log_item`, in the transaction that records the attempt) and by test
sends (subscription_sends.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.config import settings
from common.runtime.models import Count, Id, Time
from common.store import cursor as cursors
from common.store import dynamo
from common.store.tables import PK, SK
from common.triggers.subscriptions import get, log_pk

Trigger = Literal["live", "retry", "replay", "recovery", "test", "resend"]


@with_config(ConfigDict(extra="forbid", title="DeliveryAttempt"))
class DeliveryAttemptView(TypedDict):
    """One line of the deliveries log.  `trigger` says why it was sent: a new event
    (live), a scheduled retry, a replay, a recovery after a pause or a disable, a test
    send (its event is synthetic, never stored) or a resend of one event; null on lines
    written before the log recorded why."""

    event_id: Id
    attempt: Annotated[int, Field(ge=1)]
    status_code: int | None
    error: str | None
    duration_ms: Count
    attempted_at: Time
    next_attempt_at: Time | None
    trigger: Trigger | None


def attempt_view(item: Mapping[str, Any]) -> DeliveryAttemptView:
    attempt = int(item.get("attempt") or 1)
    status_code = item.get("status_code")
    trigger = item.get("trigger")
    return {
        "event_id": str(item["event_id"]),
        "attempt": attempt,
        "status_code": int(status_code) if status_code is not None else None,
        "error": item.get("error"),
        "duration_ms": int(item.get("duration_ms") or 0),
        "attempted_at": str(item["attempted_at"]),
        "next_attempt_at": item.get("next_attempt_at"),
        "trigger": cast(Trigger, trigger) if trigger else None,
    }


def deliveries_page(
    tenant: str, subscription_id: str, limit: int, cursor: str | None
) -> tuple[list[DeliveryAttemptView], str | None]:
    """Attempts newest first; 404 for an unknown (or another tenant's) subscription."""
    get(tenant, subscription_id)
    query = {"deliveries": subscription_id}
    start = None
    pk = log_pk(tenant, subscription_id)
    if cursor:
        position = cursors.decode(cursor, tenant, query)
        start = {PK: pk, SK: str(position.get("before", ""))}
    page = dynamo.query_partition(
        settings().hooks_table,
        tenant,
        pk,
        limit=limit,
        start=start,
        forward=False,
    )
    items = [attempt_view(item) for item in page.items]
    next_cursor = None
    if page.last_key is not None and page.items:
        next_cursor = cursors.encode(tenant, query, {"before": str(page.items[-1][SK])})
    return items, next_cursor
