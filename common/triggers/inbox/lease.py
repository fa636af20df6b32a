"""POST /inbox/lease: the oldest available items of a queue, held until the lease ends.

A pending item sits in its queue's pools twice: sorted by id for listing and by
availability (`<visible_at_ms>#<event_id>`) for leasing.  A lease is one Query per
shard of `visible <= now`, oldest first, then one transaction that moves each item's
availability key to the lease's expiry: the item leaves the available range and comes
back into it when the lease expires, by time alone.  Every claim is conditional on the
availability key and attempts the Query saw, so of two concurrent leases of one item
exactly one commits.  A lease taken by an agent (`holder`) also files each item in the
holder index (common.triggers.inbox.held).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictStr, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.models import INTEGRAL, BodyModel, Time
from common.runtime.slug import Slug
from common.store import dynamo
from common.triggers import events, layout
from common.triggers.inbox import changes, quarantine, state
from common.triggers.inbox.changes import LEASE_FIELDS, LEASED, LOST, QUARANTINED, Change, Guard
from common.triggers.inbox.place import Place

LEASE_ROUNDS = 3  # Query + transaction rounds per lease call when others take candidates

# Integers in a range: 30.0 is 30 (JSON Schema's rule), "30" and true are refused.
Limit = Annotated[int, Field(strict=True, ge=1, le=100), INTEGRAL]
LeaseSeconds = Annotated[int, Field(strict=True, ge=5, le=3600), INTEGRAL]


class LeaseRequest(BodyModel):
    limit: Limit = 10
    lease_seconds: LeaseSeconds = 300
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    queue: Slug = layout.INBOX


# Named as its component: pydantic names a nested view's schema after its class, and
# LeaseView refers to this one.
@with_config(ConfigDict(extra="forbid"))
class LeasedItem(events.PublicEvent):
    attempts: Annotated[int, Field(ge=1)]


@with_config(ConfigDict(extra="forbid", title="Lease"))
class LeaseView(TypedDict):
    lease_id: Annotated[str, Field(description="Opaque; names this lease")]
    expires_at: Time
    items: list[LeasedItem]


def lease(
    place: Place,
    limit: int,
    lease_seconds: int,
    event_type: str | None,
    *,
    holder: str | None = None,
) -> LeaseView:
    """Up to `limit` of the oldest available items, held until `lease_seconds` from now.

    Round trips: one Query per shard and one transaction; another round (at most
    LEASE_ROUNDS) only when concurrent leases took candidates or quarantines used slots.
    """
    now = clock.now()
    until_ms = layout.millis(now) + lease_seconds * 1000
    lease_id = changes.new_lease_id(place)
    claim = _Claim(place, lease_id, until_ms, lease_seconds, now, holder)
    leased: list[LeasedItem] = []
    quarantined = 0
    for _ in range(LEASE_ROUNDS):
        want = limit - len(leased)
        candidates = _available(place, event_type, want, layout.millis(now))
        wanted = {str(item["event_id"]): claim.change(item) for item in candidates}
        results, _ = changes.apply(
            place,
            wanted,
            _lost,
            now,
            lambda pending: changes.record_lease(place.tenant, lease_id[:26], until_ms, pending),
        )
        leased += [
            {**events.public_item(item), "attempts": int(item.get(layout.ATTEMPTS, 0)) + 1}
            for item in candidates
            if results[str(item["event_id"])] == LEASED
        ]
        quarantined += sum(1 for result in results.values() if result == QUARANTINED)
        if len(candidates) < want or all(r == LEASED for r in results.values()):
            break
    _count_lease(leased, quarantined, now)
    return {"lease_id": lease_id, "expires_at": claim.until_iso, "items": leased}


def _count_lease(leased: Sequence[LeasedItem], quarantined: int, now: float) -> None:
    if leased:
        catalogue.count("events_leased", len(leased))
        oldest = clock.parse_iso(str(leased[0]["received_at"])).timestamp()
        catalogue.record("lease_event_age", max(0.0, now - oldest))
    if quarantined:
        catalogue.count("events_quarantined", quarantined)


def _available(
    place: Place, event_type: str | None, want: int, now_ms: int
) -> list[dict[str, Any]]:
    """The `want` oldest available items over all shards: one Query per shard of
    `visible <= now` (Limit `want`), merged oldest first across shards."""
    if want <= 0:
        return []
    fetched: list[dict[str, Any]] = []
    for shard in range(settings().inbox_shards):
        if event_type is None:
            index, pool = layout.AVAILABLE_INDEX, place.pool(shard)
        else:
            index, pool = layout.AVAILABLE_TYPE_INDEX, place.type_pool(event_type, shard)
        fetched += dynamo.query_partition(
            settings().events_table,
            place.tenant,
            pool,
            index=index,
            sort=dynamo.SortKey.at_most(layout.time_key(now_ms, "~")),
            limit=want,
        ).items
    fetched.sort(key=lambda item: str(item[layout.VISIBLE_SK]))
    return fetched[:want]


def holder_fields(
    place: Place, holder: str | None, until_ms: int, event_id: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(expression part, names, values) recording the lease under its holder, or
    clearing a previous holder's entry when nobody holds it by name."""
    if holder is None:
        return "REMOVE #hpk, #hsk, #holder", {"#holder": layout.HOLDER}, {}
    return (
        ", #hpk = :hpk, #hsk = :hsk, #holder = :holder",
        {"#holder": layout.HOLDER},
        {
            ":hpk": layout.holder_pk(place.tenant, holder),
            ":hsk": held_sort_key(until_ms, place, event_id),
            ":holder": holder,
        },
    )


def held_sort_key(until_ms: int, place: Place, event_id: str) -> str:
    return f"{until_ms:015d}#{place.key(event_id)['pk']}"


@dataclass(frozen=True)
class _Claim:
    place: Place
    lease_id: str
    until_ms: int
    lease_seconds: int
    now: float
    holder: str | None

    @property
    def until_iso(self) -> str:
        return clock.iso(self.until_ms / 1000)

    def change(self, item: Mapping[str, Any]) -> Change:
        """Lease the item, or quarantine it if its last lease has ended."""
        event_id = str(item["event_id"])
        attempts = int(item.get(layout.ATTEMPTS, 0))
        # Exactly the version the Query saw: the availability key moves on every lease
        # and release, attempts only grows until a requeue, so no other change looks the same.
        guard = Guard(
            "#vsk = :seen AND #att = :att AND #status = :pending",
            {"#vsk": layout.VISIBLE_SK, "#att": layout.ATTEMPTS},
            {":seen": item[layout.VISIBLE_SK], ":att": attempts, ":pending": state.PENDING},
        )
        shard = layout.shard_of(str(item[layout.POOL_PK]))
        if layout.QUARANTINE_PK in item:  # its last lease expired: quarantined at expiry
            expired_ms = int(item[layout.LEASE_EXPIRES_MS])
            return quarantine.to_quarantine(self.place, event_id, shard, expired_ms, guard)
        if attempts >= settings().max_attempts:  # max_attempts was lowered meanwhile
            now_ms = layout.millis(self.now)
            return quarantine.to_quarantine(self.place, event_id, shard, now_ms, guard)
        return self._lease(event_id, attempts, shard, guard)

    def _lease(self, event_id: str, attempts: int, shard: int, guard: Guard) -> Change:
        expression = (
            "SET #vsk = :next, #att = :att1, #lid = :lid, #lexp = :lexp, #luntil = :luntil, "
            "#lsec = :lsec, #lat = :lat"
        )
        guard = guard.also(
            {**LEASE_FIELDS, "#lsec": layout.LEASE_SECONDS, "#lat": layout.LEASED_AT},
            {
                ":next": layout.time_key(self.until_ms, event_id),
                ":att1": attempts + 1,
                ":lid": self.lease_id,
                ":lexp": self.until_ms,
                ":luntil": self.until_iso,
                ":lsec": self.lease_seconds,
                ":lat": clock.iso(self.now),
            },
        )
        if attempts + 1 >= settings().max_attempts:  # the last lease: quarantine at expiry
            expression += ", #qpk = :qpk, #qsk = :qsk"
            guard = guard.also(
                {"#qpk": layout.QUARANTINE_PK, "#qsk": layout.QUARANTINE_SK},
                {
                    ":qpk": self.place.quarantine(shard),
                    ":qsk": layout.time_key(self.until_ms, event_id),
                },
            )
        part, names, values = holder_fields(self.place, self.holder, self.until_ms, event_id)
        guard = guard.also(names, values)
        expression = f"{expression}{part}" if part.startswith(",") else f"{expression} {part}"
        return Change(
            changes.update(self.place.key(event_id), expression, guard),
            LEASED,
            {"events_leased": 1},
        )


def _lost(_: str, __: dict[str, Any] | None) -> str:
    """A candidate another lease (or an ack) changed after our Query: not ours."""
    return LOST
