"""Function `sweeper` (EventBridge, every minute): agent liveness.

Each run is idempotent: transitions are conditional on what the run saw, so an
EventBridge retry, or two overlapping runs, change each agent at most once (and
put one `agent.*` event in the tenant's inbox per change).
Real failures raise after logging, so EventBridge retries (then the DLQ).
"""

from __future__ import annotations

from typing import Any

from common.agents import sweep
from common.runtime.observability import flush_metrics, logger, start_invocation


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start_invocation(function="sweeper", correlation_id=event.get("id"))
    try:
        summary = sweep.sweep().as_dict()
    except Exception:
        logger.exception("sweep failed")
        raise
    finally:
        flush_metrics()
    logger.info("sweep done", extra=summary)
    return summary
