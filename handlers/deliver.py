"""Function `deliver` (SQS delivery queue): sign and POST one event to one subscriber,
record the attempt, schedule the retry; replay jobs send one page each.

A message whose tenant or subscription is at its share of the workers, or whose
subscription's rate limit says later, goes back to the queue with a delay
(delivery/fairness.py) instead of waiting in this function.

A message whose handling raised is reported as a batch item failure, so SQS hands it
out again after the visibility timeout (then the DLQ).  A failed HTTP attempt is not
a failure here: it is recorded and retried as a new message on the contract's schedule.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common.runtime.observability import logger, start_invocation
from common.triggers.delivery import attempts, messages, replay


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = list(event.get("Records") or [])
    start_invocation(function="deliver", records=len(records))
    try:
        # A batch's messages are handled side by side: one slow receiver never holds
        # the others of its batch (docs/capacity.md, "Fair delivery").
        if len(records) > 1:
            with ThreadPoolExecutor(max_workers=len(records)) as pool:
                handled = list(pool.map(_handle, records))
        else:
            handled = [_handle(record) for record in records]
    finally:
        messages.flush()
    failures = [
        {"itemIdentifier": str(record.get("messageId", ""))}
        for record, ok in zip(records, handled, strict=True)
        if not ok
    ]
    return {"batchItemFailures": failures}


def _handle(record: dict[str, Any]) -> bool:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        logger.error("delivery message is not JSON; dropped", extra={"id": record.get("messageId")})
        return True
    if isinstance(body, dict) and body.get("kind") == "replay":
        try:
            sent = replay.replay_page(body)
        except Exception:
            logger.exception("replay page failed; the queue hands it out again")
            return False
        logger.info("replay page", extra={"replay_id": body.get("replay_id"), "sent": sent})
        return True
    try:
        target = messages.parse_delivery(body)
    except (KeyError, ValueError, TypeError, AttributeError):
        logger.error("malformed delivery message; dropped", extra={"id": record.get("messageId")})
        return True
    sent_at = (record.get("attributes") or {}).get("SentTimestamp")
    try:
        outcome = attempts.deliver_message(target, sent_at_ms=int(sent_at) if sent_at else None)
    except Exception:
        logger.exception("delivery failed; the queue hands it out again")
        return False
    logger.info(
        "delivery",
        extra={
            "tenant": target.tenant,
            "subscription_id": target.subscription_id,
            "event_id": target.event_id,
            "attempt": target.attempt,
            "action": outcome.action,
            "outcome": outcome.result.outcome if outcome.result else None,
            "status_code": outcome.result.status_code if outcome.result else None,
        },
    )
    return True
