"""Delivery messages on the SQS delivery queue: their shape, the retry schedule, sending.

Delivery state (hooks table) pk `T#<tenant>#SUB#<id>#D`, sk `<event_id>#<round>`
(round `live`, or `R<replay id>`): `next_attempt` and `status`.  Recording attempt n
is conditional on the state still expecting n (attempts.py), so a message handled
twice records once.

Retries at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (divided by
DOCKHAND_RETRY_DIVISOR locally).  A retrying state carries the due-time index keys
(gsi1, sharded `DUE#<n>`, sort `<due ms>#...`) built here and read by retries.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.runtime.config import settings
from common.runtime.errors import ServiceUnavailable
from common.runtime.observability import logger, metrics
from common.store import aws
from common.store.tables import PK, SK
from common.triggers import subscriptions as subs

RETRY_SCHEDULE_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS) + 1
SQS_MAX_DELAY_SECONDS = 900
BACKSTOP_SECONDS = 120
LIVE = "live"
RETRYING, SUCCEEDED, EXHAUSTED, ABANDONED = "retrying", "succeeded", "exhausted", "abandoned"


TRIGGERS = frozenset({"live", "retry", "replay", "recovery", "resend"})


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event to one subscription.

    `trigger` says why it is sent (live, replay, recovery; a retry keeps it);
    `due_ms` is the moment its subscription's rate limit gave it (0: not paced yet);
    `parked` names the parked item this copy must claim first (parking.py)."""

    tenant: str
    subscription_id: str
    event_id: str
    attempt: int = 1
    round: str = LIVE
    trigger: str = LIVE
    due_ms: int = 0
    parked: str = ""

    def body(self) -> str:
        fields: dict[str, Any] = {
            "kind": "deliver",
            "tenant": self.tenant,
            "subscription_id": self.subscription_id,
            "event_id": self.event_id,
            "attempt": self.attempt,
            "round": self.round,
        }
        if self.trigger != LIVE:
            fields["trigger"] = self.trigger
        if self.due_ms:
            fields["due_ms"] = self.due_ms
        if self.parked:
            fields["parked"] = self.parked
        return json.dumps(fields, separators=(",", ":"))

    @property
    def state_key(self) -> dict[str, str]:
        return {
            PK: subs.state_pk(self.tenant, self.subscription_id),
            SK: f"{self.event_id}#{self.round}",
        }

    @property
    def log_trigger(self) -> str:
        """What the deliveries log shows: a later attempt is a retry."""
        return "retry" if self.attempt > 1 else self.trigger


def parse_delivery(body: Mapping[str, Any]) -> Delivery:
    attempt = body.get("attempt")
    if not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError("attempt out of range")
    trigger = str(body.get("trigger") or LIVE)
    if trigger not in TRIGGERS:
        raise ValueError("unknown trigger")
    return Delivery(
        tenant=str(body["tenant"]),
        subscription_id=str(body["subscription_id"]),
        event_id=str(body["event_id"]),
        attempt=attempt,
        round=str(body.get("round") or LIVE),
        trigger=trigger,
        due_ms=max(0, int(body.get("due_ms") or 0)),
        parked=str(body.get("parked") or ""),
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


def due_pk(shard: int) -> str:
    return f"DUE#{shard}"


def due_sk(moment: float, delivery: Delivery) -> str:
    ids_part = f"{delivery.tenant}#{delivery.subscription_id}#{delivery.event_id}#{delivery.round}"
    return f"{int(moment * 1000):013d}#{ids_part}"


def flush() -> None:
    """Flush what was counted (nothing to flush is not worth powertools' warning)."""
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()  # flush does not clear when metrics are disabled
