"""Function `rollup` (EventBridge, 00:05 UTC): yesterday's figures per tenant.

`{"day": "YYYY-MM-DD"}` backfills a past day.  Idempotent (PutItem per tenant and
day), so EventBridge retries are harmless; real failures are logged and raised so
EventBridge retries and, after that, the event lands in the DLQ.
"""

from __future__ import annotations

import time
from typing import Any

from common.runtime import catalogue
from common.runtime.observability import logger, metrics, start_invocation
from common.stats import rollup
from common.triggers.inbox import listing  # noqa: F401 - every run reads the inbox gauge (rollup imports it lazily)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start_invocation(function="rollup", correlation_id=event.get("id"))
    started = time.perf_counter()
    try:
        day = rollup.day_to_roll(event)
        summary = rollup.run(day)
        catalogue.count("rollup_tenants", summary.tenants)
        catalogue.record("inbox_pending", summary.inbox_pending)
        catalogue.record(
            "inbox_oldest_pending_age_seconds", summary.inbox_oldest_pending_age_seconds
        )
        catalogue.record("agents_healthy", summary.agents.get("healthy", 0))
        catalogue.record("agents_unhealthy", summary.agents.get("unhealthy", 0))
        catalogue.record("agents_dead", summary.agents.get("dead", 0))
    except Exception:
        logger.exception("rollup failed")
        raise
    finally:
        catalogue.record("rollup_duration", (time.perf_counter() - started) * 1000)
        metrics.flush_metrics()
        metrics.clear_metrics()  # flush does not clear when metrics are disabled
    logger.info("rollup done", extra=summary.as_dict())
    return summary.as_dict()
