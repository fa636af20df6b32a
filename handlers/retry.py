"""Function `retry` (EventBridge, every minute): hands delivery retries whose due
time has come (the due-time index on the hooks table) to the delivery queue, and
starts the recoveries an enabling request did not (common/triggers/recovery.py).

Idempotent: each retry is claimed by a conditional update before it is sent, so
overlapping runs or an EventBridge retry send it once; a claimed retry whose message
is lost comes due again 15 minutes later."""

from __future__ import annotations

from typing import Any

from common.runtime.observability import logger, start_invocation
from common.triggers import recovery
from common.triggers.delivery import messages, retries


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start_invocation(function="retry", correlation_id=event.get("id"))
    try:
        sent = retries.sweep_due()
        # Recoveries whose enabling request died before starting them (recovery.py).
        recovered = recovery.sweep_pending()
    except Exception:
        logger.exception("retry sweep failed")
        raise
    finally:
        messages.flush()
    logger.info("retry sweep done", extra={"sent": sent, "recoveries": recovered})
    return {"sent": sent}
