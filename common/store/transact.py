"""TransactWriteItems with the cancellation handling every writer needs.

Busy reasons (throttling) become 503 with nothing written.  A `TransactionConflict`
(another transaction on the same item in flight) is retried briefly with jitter:
once the other commits, the retry fails its condition cleanly and the reasons name
the record it ran into, instead of the client seeing a 503.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from common.runtime.errors import ServiceUnavailable
from common.runtime.observability import logger
from common.store import aws

CONFLICT_ATTEMPTS = 3
_BUSY_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def run(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """None when the transaction committed, else one cancellation reason per item."""
    from botocore.exceptions import ClientError

    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            aws.dynamodb().transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = list(exc.response.get("CancellationReasons") or [])
        found = codes(reasons)
        if found & _BUSY_REASONS:
            logger.warning("transaction throttled", extra={"reasons": sorted(found)})
            raise ServiceUnavailable(retry_after=1)
        if "TransactionConflict" in found and "ConditionalCheckFailed" not in found:
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter
            continue
        return reasons + [{"Code": "None"}] * (len(items) - len(reasons))
    raise ServiceUnavailable(retry_after=1)


def run_named(items: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """`run` for items named by the caller: None when committed, else the reason per name,
    so a reader asks for `reasons["dedup"]`, never for a position in a list built elsewhere."""
    reasons = run(list(items.values()))
    return None if reasons is None else dict(zip(items, reasons, strict=True))


def codes(reasons: Iterable[Mapping[str, Any]]) -> set[str]:
    """The cancellation codes that say something (DynamoDB pads with "None")."""
    return {str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None")}


def failed_condition(reason: Mapping[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"
