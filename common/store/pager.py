"""One page over several partitions of an index, merged in sort-key order.

Sharded partitions (the inbox pools, the quarantine) are each read after their own
position, `limit + 1` items at most, so a page never reads more than
shards x (limit + 1) items whatever lies behind it.  The cursor records every
shard's position and is bound to the tenant and the query (common.store.cursor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from common.store import cursor as cursors

# (shard, position to read after or None, how many) → items in sort-key order.
ShardReader = Callable[[int, str | None, int], list[dict[str, Any]]]


def merged_page(
    tenant: str,
    query: Mapping[str, Any],
    cursor: str | None,
    limit: int,
    *,
    shards: int,
    read: ShardReader,
    position: Callable[[Mapping[str, Any]], Any],
) -> tuple[list[dict[str, Any]], str | None]:
    """One page over `shards` partitions, merged by `position` (the index's sort key)."""
    positions: dict[str, Any] = cursors.decode(cursor, tenant, query) if cursor else {}
    fetched: list[tuple[int, dict[str, Any]]] = []
    more_in_shard: set[int] = set()
    for shard in range(shards):
        after = positions.get(str(shard))
        items = read(shard, str(after) if after else None, limit + 1)
        if len(items) > limit:
            more_in_shard.add(shard)
        fetched.extend((shard, item) for item in items[:limit])
    fetched.sort(key=lambda pair: str(position(pair[1])))
    page, rest = fetched[:limit], fetched[limit:]
    for shard, item in page:
        positions[str(shard)] = position(item)
    has_more = bool(rest) or bool(more_in_shard)
    next_cursor = cursors.encode(tenant, query, positions) if has_more else None
    return [item for _, item in page], next_cursor
