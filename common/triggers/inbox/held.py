"""The leases an agent holds (`lease(..., holder=agent_id)`), found without a scan.

A lease taken by an agent files each item in the holder index (layout.HELD_INDEX):
`T#<tenant>#H#<agent_id>` / `<lease_expires_ms>#<item pk>`, so one Query of
`expiry > now` finds exactly the agent's live leases, in every queue.  A heartbeat
extends them (`extend_held`, each by its own lease_seconds); a dead or deleted agent's
are released at once (`release_held`, bounded per call, attempts stay counted).  The
entry leaves the index when the lease ends by ack, release, quarantine or another
lease; an expired one that nobody took stays until then, below `now`, never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypedDict

from common.runtime import clock
from common.runtime.config import settings
from common.store import dynamo
from common.triggers import layout
from common.triggers.inbox import changes, extend, release
from common.triggers.inbox.changes import EXTENDED, LOST, RELEASED, Change
from common.triggers.inbox.place import Place, of_item

RELEASE_LIMIT = 100  # the default bound of one release_held call


class HeldWork(TypedDict):
    leased: int
    oldest_leased_at: str | None


def _held(
    tenant: str, agent_id: str, now_ms: int, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The agent's unexpired leased items (a lease ending exactly now has ended)."""
    table, pk = settings().events_table, layout.holder_pk(tenant, agent_id)
    sort, index = dynamo.SortKey.above(f"{now_ms:015d}#~"), layout.HELD_INDEX
    if limit is not None:
        yield from dynamo.query_partition(
            table, tenant, pk, index=index, sort=sort, limit=limit
        ).items
        return
    yield from dynamo.query_partition_all(table, tenant, pk, index=index, sort=sort)


def _by_place(tenant: str, items: Iterator[dict[str, Any]]) -> dict[Place, list[dict[str, Any]]]:
    grouped: dict[Place, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(of_item(tenant, item), []).append(item)
    return grouped


def extend_held(tenant: str, agent_id: str, now: float | None = None) -> int:
    """Every unexpired lease the agent holds now ends its own lease_seconds from `now`;
    returns how many items were extended.  Each change is conditional on the lease
    (id and expiry) the index showed, so a lease released or taken meanwhile is left."""
    moment = clock.now() if now is None else now
    now_ms = layout.millis(moment)
    extended = 0
    for place, items in _by_place(tenant, _held(tenant, agent_id, now_ms)).items():
        wanted: dict[str, Change] = {}
        for item in items:
            until_ms = now_ms + int(item.get(layout.LEASE_SECONDS, 300)) * 1000
            wanted[str(item["event_id"])] = extend.extension(
                place,
                str(item["event_id"]),
                str(item[layout.LEASE_ID]),
                until_ms,
                last=layout.QUARANTINE_PK in item,
                holder=agent_id,
                expected_expiry=int(item[layout.LEASE_EXPIRES_MS]),
            )
        results, _ = changes.apply(place, wanted, _gone, moment)
        extended += sum(1 for result in results.values() if result == EXTENDED)
    return extended


def release_held(tenant: str, agent_id: str, limit: int = RELEASE_LIMIT) -> int:
    """Release at most `limit` of the agent's live leased items at once (available
    again now, attempts kept; one on its last attempt is quarantined); returns how many.
    A caller with more to release calls again (the released ones leave the index)."""
    now = clock.now()
    items = _held(tenant, agent_id, layout.millis(now), limit)
    released = 0
    for place, held in _by_place(tenant, items).items():
        by_lease: dict[str, list[str]] = {}
        for item in held:
            by_lease.setdefault(str(item[layout.LEASE_ID]), []).append(str(item["event_id"]))
        for lease_id, event_ids in by_lease.items():
            results, _ = release.release_changes(place, lease_id, event_ids, 0, now)
            released += sum(1 for result in results.values() if result == RELEASED)
    return released


def held_work(tenant: str, agent_id: str) -> HeldWork:
    """How many items the agent holds under a live lease, and when it took the oldest."""
    leased_at = [
        str(item.get(layout.LEASED_AT) or "")
        for item in _held(tenant, agent_id, layout.millis(clock.now()))
    ]
    known = sorted(at for at in leased_at if at)
    return {"leased": len(leased_at), "oldest_leased_at": known[0] if known else None}


def _gone(_: str, __: Mapping[str, Any] | None) -> str:
    """The lease ended or changed hands since the index showed it: nothing to extend."""
    return LOST
