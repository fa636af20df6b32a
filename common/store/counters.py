"""Daily per-tenant counters, kept at write time so the rollup never scans.

Item: pk `DAY#<yyyy-mm-dd>#<shard>`, sk `T#<tenant>`, one numeric attribute per
figure (events_received, notes_created, ...).  Keying by day first lets the
rollup find every active tenant of a day with one Query per shard (O(tenants));
the shard suffix (DOCKHAND_COUNTER_SHARDS) spreads a hot day over partitions.

Writers put `update_item(...)` into the same TransactWriteItems as the data it
counts, so a counted write and its count never diverge.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws, ddb
from common.store.tables import PK, SK

RETENTION_SECONDS = 400 * 86_400  # over a year of daily figures


def _pk(day: str, shard: int) -> str:
    return f"DAY#{day}#{shard}"


def update_item(
    tenant: str, increments: Mapping[str, int], moment: float | None = None
) -> dict[str, Any]:
    """A TransactWriteItems `Update` element adding `increments` to today's counters."""
    moment = clock.now() if moment is None else moment
    day = clock.day_of(moment)
    shard = random.randrange(settings().counter_shards)  # noqa: S311 - spreading load, not security
    names = {"#tenant": "tenant", "#day": "day", "#exp": "expires_at"}
    values: dict[str, Any] = {
        ":tenant": ddb.value(tenant),
        ":day": ddb.value(day),
        ":exp": ddb.value(int(moment) + RETENTION_SECONDS),
    }
    adds = []
    for index, (field, amount) in enumerate(sorted(increments.items())):
        names[f"#f{index}"] = field
        values[f":v{index}"] = ddb.value(amount)
        adds.append(f"#f{index} :v{index}")
    return {
        "Update": {
            "TableName": settings().stats_table,
            "Key": ddb.serialize({PK: _pk(day, shard), SK: f"T#{tenant}"}),
            "UpdateExpression": "SET #tenant = :tenant, #day = :day, #exp = :exp ADD "
            + ", ".join(adds),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def increment(tenant: str, increments: Mapping[str, int], moment: float | None = None) -> None:
    """Add to today's counters on their own (when there is no transaction to join)."""
    update = update_item(tenant, increments, moment)["Update"]
    aws.dynamodb().update_item(**update)


_META = {PK, SK, "tenant", "day", "expires_at"}


def read_day(tenant: str, day: str) -> dict[str, int] | None:
    """The tenant's counters for `day` summed over shards, or None if it has none."""
    shards = settings().counter_shards
    keys = [ddb.serialize({PK: _pk(day, s), SK: f"T#{tenant}"}) for s in range(shards)]
    table = settings().stats_table
    totals: dict[str, int] = {}
    found = False
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while request:
            result = aws.dynamodb().batch_get_item(RequestItems=request)
            for raw in result.get("Responses", {}).get(table, []):
                found = True
                _add(totals, ddb.deserialize(raw))
            request = result.get("UnprocessedKeys") or {}
    return totals if found else None


def tenants_for_day(day: str) -> Iterator[tuple[str, dict[str, int]]]:
    """(tenant, counters) for every tenant with counters on `day`: one Query per shard page."""
    totals: dict[str, dict[str, int]] = {}
    for shard in range(settings().counter_shards):
        kwargs: dict[str, Any] = {
            "TableName": settings().stats_table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": ddb.value(_pk(day, shard))},
        }
        while True:
            result = aws.dynamodb().query(**kwargs)
            for raw in result.get("Items", []):
                item = ddb.deserialize(raw)
                _add(totals.setdefault(str(item["tenant"]), {}), item)
            if "LastEvaluatedKey" not in result:
                break
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
    yield from totals.items()


def _add(totals: dict[str, int], item: Mapping[str, Any]) -> None:
    for field, amount in item.items():
        if field not in _META and isinstance(amount, int):
            totals[field] = totals.get(field, 0) + amount
