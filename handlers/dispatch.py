"""Function `dispatch` (DynamoDB stream of the events table): one delivery message per
new event and matching subscription.

Reports batch item failures: the stream is retried from the first record that could
not be handed to the queue (records before it are not sent again)."""

from __future__ import annotations

from typing import Any

from common.runtime.observability import logger, start_invocation
from common.triggers.delivery import dispatch, messages


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = list(event.get("Records") or [])
    start_invocation(function="dispatch", records=len(records))
    try:
        failed = dispatch.dispatch_records(records)
    finally:
        messages.flush()
    if failed:
        logger.warning("dispatch incomplete", extra={"first_failed": failed[0]})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
