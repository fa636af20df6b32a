"""Committing lease-state changes: conditional updates, at most 96 a transaction with
the counters and the pending gauge, re-decided from ALL_OLD when a condition fails.

Also the lease ids (signed, bound to tenant and queue) and the lease record."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.runtime import ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.store import counters, dynamo, transact
from common.store.secrets import derived_key
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers import layout
from common.triggers.inbox.place import Place

MAX_IDS = 100
LEASE_RECORD_SECONDS = 86_400  # a lease id answers for a day after its lease ends
_PER_TRANSACTION = 96  # items per transaction: room for counter, gauge, lease record
_MAX_CHANGE_ROUNDS = 4
_TAG_BYTES = 10  # 80-bit HMAC tag: 16 base32 characters after the ULID

# Results per event id.
ACKNOWLEDGED, LEASE_LOST, NOT_FOUND = "acknowledged", "lease_lost", "not_found"
LEASED, LOST, RELEASED, REQUEUED = "leased", "lost", "released", "requeued"
EXTENDED, QUARANTINED = "extended", "quarantined"


@dataclass(frozen=True)
class Change:
    """One conditional update of one item, what it means once committed, and what it
    adds to the day counters and the pending gauge."""

    op: dict[str, Any]
    result: str
    counts: Mapping[str, int] = field(default_factory=dict)
    gauge: int = 0


@dataclass(frozen=True)
class Guard:
    """A condition expression with the names and values it (and its update) use."""

    condition: str
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)

    def also(self, names: Mapping[str, str], values: Mapping[str, Any]) -> Guard:
        return Guard(self.condition, {**self.names, **names}, {**self.values, **values})


# After a failed condition: the item as it stood (None: absent) → a final result,
# or the change to try instead.
Decide = Callable[[str, dict[str, Any] | None], "str | Change"]
Extra = Callable[[Mapping[str, Change]], list[dict[str, Any]]]


def _no_extra(_: Mapping[str, Change]) -> list[dict[str, Any]]:
    return []


def apply(
    place: Place,
    changes: Mapping[str, Change],
    decide: Decide,
    now: float,
    extra: Extra = _no_extra,
) -> tuple[dict[str, str], list[Change]]:
    """Commit `changes`, at most 96 a transaction with their counters and gauge.

    A cancelled transaction's ALL_OLD reasons say, per item, what it ran into;
    `decide` turns that into a result or another change, and the rest are tried again
    without it.  Returns (result per event id, the changes that committed)."""
    results: dict[str, str] = {}
    committed: list[Change] = []
    ordered = list(changes.items())
    for first in range(0, len(ordered), _PER_TRANSACTION):
        chunk = dict(ordered[first : first + _PER_TRANSACTION])
        chunk_results, chunk_committed = _apply_chunk(place, chunk, decide, now, extra)
        results.update(chunk_results)
        committed += chunk_committed
    return results, committed


def _apply_chunk(
    place: Place, chunk: Mapping[str, Change], decide: Decide, now: float, extra: Extra
) -> tuple[dict[str, str], list[Change]]:
    results: dict[str, str] = {}
    pending = dict(chunk)
    for _ in range(_MAX_CHANGE_ROUNDS):
        if not pending:
            return results, []
        named = {f"item:{event_id}": change.op for event_id, change in pending.items()}
        reasons = transact.run_named({**named, **_totals(place, pending, now, extra)})
        if reasons is None:
            results.update({event_id: change.result for event_id, change in pending.items()})
            return results, list(pending.values())
        retry: dict[str, Change] = {}
        for event_id, change in pending.items():
            reason = reasons[f"item:{event_id}"]
            if not transact.failed_condition(reason):
                retry[event_id] = change
                continue
            decided = decide(event_id, dynamo.live(reason.get("Item"), now))
            if isinstance(decided, str):
                results[event_id] = decided
            else:
                retry[event_id] = decided
        if retry == pending:  # pragma: no cover - cancelled for no stated reason
            break
        pending = retry
    raise ServiceUnavailable(retry_after=1)


def _totals(
    place: Place, pending: Mapping[str, Change], now: float, extra: Extra
) -> dict[str, dict[str, Any]]:
    """The transaction's other items: day counters (tenant inbox only), gauge, extras."""
    items: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for change in pending.values():
        for name, amount in change.counts.items():
            counts[name] = counts.get(name, 0) + amount
    if counts and place.is_inbox:
        items["counters"] = counters.update_item(place.tenant, counts, now)
    gauge = sum(change.gauge for change in pending.values())
    if gauge:
        items["gauge"] = place.gauge_update(gauge)
    for number, op in enumerate(extra(pending)):
        items[f"extra:{number}"] = op
    return items


def unique_valid(event_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(ids in request order without repeats, the subset that can name an event)."""
    unique = list(dict.fromkeys(event_ids))
    return unique, [i for i in unique if ids.is_valid_id(i)]


def update(
    key: Mapping[str, Any], expression: str, guard: Guard, *, table: str | None = None
) -> dict[str, Any]:
    """A conditional update of one item, returning the item as it stood on failure."""
    return dynamo.update_op(
        table or settings().events_table,
        key,
        expression,
        condition=guard.condition,
        names={"#status": layout.STATUS, **guard.names},
        values=guard.values,
        return_old_on_failure=True,
    )


def outcome(unique: Sequence[str], results: Mapping[str, str], *kinds: str) -> dict[str, list[str]]:
    """The ids per result kind, in request order; an id with no result is not found."""
    found = {event_id: results.get(event_id, NOT_FOUND) for event_id in unique}
    return {kind: [i for i in unique if found[i] == kind] for kind in kinds}


# Attribute placeholders shared by the changes.
POOL_KEYS = {
    "#g1pk": layout.POOL_PK,
    "#g1sk": layout.POOL_SK,
    "#g2pk": layout.TYPE_POOL_PK,
    "#g2sk": layout.TYPE_POOL_SK,
}
LEASE_FIELDS = {
    "#lid": layout.LEASE_ID,
    "#lexp": layout.LEASE_EXPIRES_MS,
    "#luntil": layout.LEASED_UNTIL,
    "#hpk": layout.HOLDER_PK,
    "#hsk": layout.HOLDER_SK,
}
# A lease's fields, removed when it ends (the holder index entry with it).
REMOVE_LEASE = "#lid, #lexp, #luntil, #hpk, #hsk"
REMOVE_POOLS = "#g1pk, #g1sk, #g2pk, #g2sk, #vsk"


# ---------------------------------------------------------------- lease ids


def _tag(place: Place, ulid: str) -> str:
    # The tenant inbox's ids keep their original binding (tenant and ULID); a named
    # queue's are bound to the queue's id too, so they answer for that queue only.
    bound = f"{place.tenant}\n{ulid}"
    if place.queue_id is not None:
        bound = f"{place.tenant}\n{place.queue_id}\n{ulid}"
    mac = hmac.new(derived_key("lease-id"), bound.encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:_TAG_BYTES]).decode()


def new_lease_id(place: Place) -> str:
    ulid = ids.new_id()
    return ulid + _tag(place, ulid)


def lease_ulid(place: Place, lease_id: str) -> str:
    """The ULID of one of this queue's lease ids; NotFound for anything else."""
    ulid, tag = lease_id[:26], lease_id[26:]
    expected = _tag(place, ulid).encode()
    if not ids.is_valid_id(ulid) or not hmac.compare_digest(tag.encode(), expected):
        raise NotFound("No such lease.")
    return ulid


def lease_key(tenant: str, ulid: str) -> dict[str, str]:
    return {PK: layout.lease_pk(tenant, ulid), SK: layout.LEASE_SK}


def record_lease(
    tenant: str, ulid: str, until_ms: int, pending: Mapping[str, Change]
) -> list[dict[str, Any]]:
    """The lease record's update for the items this transaction leases (none: none)."""
    leased = [event_id for event_id, change in pending.items() if change.result == LEASED]
    if not leased:
        return []
    return [
        dynamo.update_op(
            settings().events_table,
            lease_key(tenant, ulid),
            "SET #tenant = :tenant, #exp = :exp, "
            "event_ids = list_append(if_not_exists(event_ids, :empty), :ids)",
            names={"#tenant": "tenant", "#exp": TTL_ATTRIBUTE},
            values={
                ":tenant": tenant,
                ":exp": until_ms // 1000 + LEASE_RECORD_SECONDS,
                ":empty": [],
                ":ids": leased,
            },
        )
    ]


def lease_events(place: Place, lease_id: str, event_ids: Sequence[str] | None) -> list[str]:
    """The ids named, or all of the lease (one GetItem of its record)."""
    ulid = lease_ulid(place, lease_id)
    if event_ids is not None:
        return list(event_ids)
    record = dynamo.get(settings().events_table, lease_key(place.tenant, ulid))
    return [str(i) for i in (record or {}).get("event_ids", [])]
