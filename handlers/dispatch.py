"""Function `dispatch` (DynamoDB stream of the events table): each new event's copy in
every named queue that wants it (common.triggers.fanout), then one delivery message per
new event and matching subscription.

Reports batch item failures: the stream is retried from the first record that could
not be handled (records before it are not handled again)."""

from __future__ import annotations

from typing import Any

from common.runtime.observability import logger, start_invocation
from common.triggers import delivery, fanout


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = list(event.get("Records") or [])
    start_invocation(function="dispatch", records=len(records))
    try:
        # Queues first (their entries are idempotent); delivery then sends only for the
        # records the queues took, so a retried batch sends nothing twice.
        filled = fanout.fill_queues(records)
        failed = delivery.dispatch_records(records[:filled]) or fanout.sequences(records[filled:])
    finally:
        delivery.flush()
    if failed:
        logger.warning("dispatch incomplete", extra={"first_failed": failed[0]})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
