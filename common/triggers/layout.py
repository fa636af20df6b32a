"""Where the triggers keep things: keys, attribute and index names (events and stats tables).

events table
* event         pk `T#<tenant>#E#<event_id>`, sk `E`.
* queue entry   pk `T#<tenant>#QE#<queue_id>#<event_id>`, sk `QE`: a named queue's copy
                of one event, carrying that queue's lease state (common.triggers.inbox).
* queue         pk `T#<tenant>#QUEUES`, sk `Q#<name>`; the tenant's queue count, sk `N`.
* queue clean-up pk `T#<tenant>#QDEL#<queue_id>`, sk `QDEL` (a deleted queue's entries
                being removed, a bounded batch per stream record: common.triggers.fanout).
* lease record  pk `T#<tenant>#L#<lease_ulid>`, sk `L`.
A pool is a set of pending items a consumer reads: the tenant inbox's pool is
`T#<tenant>#S<shard>`, a named queue's `T#<tenant>#QU#<queue_id>#S<shard>`; the same
with `#TY#<event_type>` before the shard is the pool of one event type.

Indexes of the events table (physical names in infra/tables.tf):
* POOL_INDEX (gsi1)              pool / event_id: pending items, listing order.
* TYPE_POOL_INDEX (gsi2)         type pool / event_id: the same, one event type.
* AVAILABLE_INDEX (gsi3)         pool / `<visible_at_ms>#<event_id>`: what a lease reads.
* AVAILABLE_TYPE_INDEX (gsi4)    type pool / the same sort key.
* QUARANTINE_INDEX (gsi5)        `...#Q#S<shard>` / `<quarantined_at_ms>#<event_id>`.
* HELD_INDEX (held)              `T#<tenant>#H#<agent_id>` / `<lease_expires_ms>#<pk>`:
                                 the leases an agent holds (sparse: held leases only).
* TIMELINE_INDEX (timeline)      every retained event by receipt time (replays).

stats table: the pending gauges, pk `T#<tenant>#GAUGE` sk `inbox#<n>` (the tenant
inbox) and pk `T#<tenant>#QG#<queue_id>` sk `<n>` (a named queue).
"""

from __future__ import annotations

from common.store.tables import (
    GSI1,
    GSI1_PK,
    GSI1_SK,
    GSI2,
    GSI2_PK,
    GSI2_SK,
    GSI3,
    GSI3_SK,
    GSI4,
    GSI5,
    GSI5_PK,
    GSI5_SK,
    HELD,
    HELD_PK,
    HELD_SK,
    TIMELINE,
    TIMELINE_PK,
    TIMELINE_SK,
)

EVENT_SK, ENTRY_SK, QUEUE_COUNT_SK, CLEANUP_SK, LEASE_SK = "E", "QE", "N", "QDEL", "L"
QUEUE_SK_PREFIX = "Q#"

# Index names, by what each index is for.
POOL_INDEX, TYPE_POOL_INDEX = GSI1, GSI2
AVAILABLE_INDEX, AVAILABLE_TYPE_INDEX = GSI3, GSI4
QUARANTINE_INDEX, HELD_INDEX, TIMELINE_INDEX = GSI5, HELD, TIMELINE

# Their key attributes.
POOL_PK, POOL_SK = GSI1_PK, GSI1_SK
TYPE_POOL_PK, TYPE_POOL_SK = GSI2_PK, GSI2_SK
VISIBLE_SK = GSI3_SK  # the availability sort key of AVAILABLE_INDEX / AVAILABLE_TYPE_INDEX
QUARANTINE_PK, QUARANTINE_SK = GSI5_PK, GSI5_SK
HOLDER_PK, HOLDER_SK = HELD_PK, HELD_SK
TIMELINE_PK_ATTR, TIMELINE_SK_ATTR = TIMELINE_PK, TIMELINE_SK

# Where a pending item lives in the pools, kept on the item so that a requeue can put
# a quarantined item back without reading it first.
HOME_PK, HOME_TYPE_PK = "home_pk", "home_type_pk"
# Lease state, on the event item (the tenant inbox) or on a queue entry.
STATUS, ATTEMPTS = "status", "attempts"
LEASE_ID, LEASE_EXPIRES_MS, LEASED_UNTIL = "lease_id", "lease_expires_ms", "leased_until"
LEASE_SECONDS, LEASED_AT, HOLDER = "lease_seconds", "leased_at", "holder"
# A queue entry names its queue (for work found through the holder index).
QUEUE_NAME, QUEUE_ID = "queue", "queue_id"

INBOX = "inbox"  # the tenant inbox's queue name


def event_pk(tenant: str, event_id: str) -> str:
    return f"T#{tenant}#E#{event_id}"


def entry_pk(tenant: str, queue_id: str, event_id: str) -> str:
    return f"T#{tenant}#QE#{queue_id}#{event_id}"


def queues_pk(tenant: str) -> str:
    return f"T#{tenant}#QUEUES"


def cleanup_pk(tenant: str, queue_id: str) -> str:
    return f"T#{tenant}#QDEL#{queue_id}"


def lease_pk(tenant: str, ulid: str) -> str:
    return f"T#{tenant}#L#{ulid}"


def pool_prefix(tenant: str, queue_id: str | None) -> str:
    """`T#<tenant>` for the tenant inbox, `T#<tenant>#QU#<queue_id>` for a named queue."""
    return f"T#{tenant}" if queue_id is None else f"T#{tenant}#QU#{queue_id}"


def pool_pk(prefix: str, shard: int) -> str:
    return f"{prefix}#S{shard}"


def type_pool_pk(prefix: str, event_type: str, shard: int) -> str:
    return f"{prefix}#TY#{event_type}#S{shard}"


def quarantine_pk(prefix: str, shard: int) -> str:
    return f"{prefix}#Q#S{shard}"


def timeline_pk(tenant: str, shard: int) -> str:
    return f"T#{tenant}#TL#S{shard}"


def holder_pk(tenant: str, agent_id: str) -> str:
    return f"T#{tenant}#H#{agent_id}"


def inbox_gauge_pk(tenant: str) -> str:
    return f"T#{tenant}#GAUGE"


def queue_gauge_pk(tenant: str, queue_id: str) -> str:
    return f"T#{tenant}#QG#{queue_id}"


def shard_of(pool: str) -> int:
    """The shard number at the end of a pool key (`...#S<n>`)."""
    return int(pool.rsplit("#S", 1)[1])


def millis(moment: float) -> int:
    return int(moment * 1000)


def time_key(moment_ms: int, event_id: str) -> str:
    """`<epoch ms, 15 digits>#<event_id>`: sorts by time, then by id (all one length)."""
    return f"{moment_ms:015d}#{event_id}"
