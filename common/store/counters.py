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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from common.runtime import clock
from common.runtime.config import settings
from common.store import dynamo
from common.store.tables import PK, SK

RETENTION_SECONDS = 400 * 86_400  # over a year of daily figures


def _pk(day: str, shard: int) -> str:
    return f"DAY#{day}#{shard}"


def _key(day: str, shard: int, tenant: str) -> dict[str, str]:
    return {PK: _pk(day, shard), SK: f"T#{tenant}"}


def _update_args(
    tenant: str, increments: Mapping[str, int], moment: float
) -> tuple[dict[str, str], str, dict[str, str], dict[str, Any]]:
    """(key, update expression, names, values) adding `increments` to the day's counters."""
    day = clock.day_of(moment)
    shard = random.randrange(settings().counter_shards)  # noqa: S311 - spreading load, not security
    names = {"#tenant": "tenant", "#day": "day", "#exp": "expires_at"}
    values: dict[str, Any] = {
        ":tenant": tenant,
        ":day": day,
        ":exp": int(moment) + RETENTION_SECONDS,
    }
    adds = []
    for index, (field, amount) in enumerate(sorted(increments.items())):
        names[f"#f{index}"] = field
        values[f":v{index}"] = amount
        adds.append(f"#f{index} :v{index}")
    expression = "SET #tenant = :tenant, #day = :day, #exp = :exp ADD " + ", ".join(adds)
    return _key(day, shard, tenant), expression, names, values


def update_item(
    tenant: str, increments: Mapping[str, int], moment: float | None = None
) -> dict[str, Any]:
    """A transaction item (`store.dynamo.update_op`) adding `increments` to the day's counters."""
    key, expression, names, values = _update_args(
        tenant, increments, clock.now() if moment is None else moment
    )
    return dynamo.update_op(settings().stats_table, key, expression, names=names, values=values)


def increment(tenant: str, increments: Mapping[str, int], moment: float | None = None) -> None:
    """Add to the day's counters on their own (when there is no transaction to join)."""
    key, expression, names, values = _update_args(
        tenant, increments, clock.now() if moment is None else moment
    )
    dynamo.update(settings().stats_table, key, expression, names=names, values=values)


_META = {PK, SK, "tenant", "day", "expires_at"}


def read_day(tenant: str, day: str) -> dict[str, int] | None:
    """The tenant's counters for `day` summed over shards, or None if it has none."""
    return read_days(tenant, [day]).get(day)


def read_days(tenant: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
    """{day: counters summed over shards} for the days that have any: one BatchGetItem
    per 100 (day, shard) keys, so a 92-day range with one shard is one request."""
    shards = settings().counter_shards
    keys = [_key(day, shard, tenant) for day in days for shard in range(shards)]
    totals: dict[str, dict[str, int]] = {}
    for item in dynamo.batch_get(settings().stats_table, keys):
        _add(totals.setdefault(str(item["day"]), {}), item)
    return totals


def tenants_for_day(day: str) -> Iterator[tuple[str, dict[str, int]]]:
    """(tenant, counters) for every tenant with counters on `day`: one Query per shard page."""
    totals: dict[str, dict[str, int]] = {}
    for shard in range(settings().counter_shards):
        for item in dynamo.query_partition_all(
            settings().stats_table, dynamo.CROSS_TENANT, _pk(day, shard)
        ):
            _add(totals.setdefault(str(item["tenant"]), {}), item)
    yield from totals.items()


def _add(totals: dict[str, int], item: Mapping[str, Any]) -> None:
    for field, amount in item.items():
        if field not in _META and isinstance(amount, int):
            totals[field] = totals.get(field, 0) + amount
