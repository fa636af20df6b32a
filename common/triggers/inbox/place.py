"""Where a queue's lease state lives: the one thing the lease code varies over.

The tenant inbox keeps each event's state on the event item itself; a named queue keeps
it on a queue entry, one item per (queue, event), carrying a copy of the event.  Both
carry the same attributes (common.triggers.layout) and sit in pools of the same
indexes, so every lease, ack, release, extension and quarantine is written once, for a
`Place`.  The pending gauge and the day counters differ: the inbox's are the tenant's
figures (`GET /stats`), a named queue has its own gauge and no day counters.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.runtime.config import settings
from common.store import dynamo
from common.store.tables import PK, SK
from common.triggers import layout


@dataclass(frozen=True)
class Place:
    tenant: str
    name: str = layout.INBOX
    queue_id: str | None = None  # None: the tenant inbox

    @property
    def is_inbox(self) -> bool:
        return self.queue_id is None

    def key(self, event_id: str) -> dict[str, str]:
        """The item that holds this queue's state of the event."""
        if self.queue_id is None:
            return {PK: layout.event_pk(self.tenant, event_id), SK: layout.EVENT_SK}
        return {PK: layout.entry_pk(self.tenant, self.queue_id, event_id), SK: layout.ENTRY_SK}

    @property
    def prefix(self) -> str:
        return layout.pool_prefix(self.tenant, self.queue_id)

    def pool(self, shard: int) -> str:
        return layout.pool_pk(self.prefix, shard)

    def type_pool(self, event_type: str, shard: int) -> str:
        return layout.type_pool_pk(self.prefix, event_type, shard)

    def quarantine(self, shard: int) -> str:
        return layout.quarantine_pk(self.prefix, shard)

    def gauge_key(self, shard: int) -> dict[str, str]:
        if self.queue_id is None:
            return {PK: layout.inbox_gauge_pk(self.tenant), SK: f"inbox#{shard}"}
        return {PK: layout.queue_gauge_pk(self.tenant, self.queue_id), SK: str(shard)}

    def gauge_update(self, delta: int) -> dict[str, Any]:
        """Transaction item adding `delta` to the pending gauge (a random shard of it:
        the sum is what counts, so a busy queue spreads the writes)."""
        shard = random.randrange(settings().inbox_shards)  # noqa: S311 - spreading load
        return dynamo.update_op(
            settings().stats_table,
            self.gauge_key(shard),
            "SET #tenant = :tenant ADD pending :delta",
            names={"#tenant": "tenant"},
            values={":tenant": self.tenant, ":delta": delta},
        )

    def pending(self) -> int:
        """The pending gauge: one Query over its shards."""
        pk = self.gauge_key(0)[PK]
        gauges = dynamo.query_partition(settings().stats_table, self.tenant, pk, consistent=True)
        return max(sum(int(item.get("pending", 0)) for item in gauges.items), 0)


def inbox(tenant: str) -> Place:
    return Place(tenant)


def of_item(tenant: str, item: Mapping[str, Any]) -> Place:
    """The place an item found through an index belongs to (event item or entry)."""
    queue_id = item.get(layout.QUEUE_ID)
    if queue_id is None:
        return Place(tenant)
    return Place(tenant, str(item[layout.QUEUE_NAME]), str(queue_id))
