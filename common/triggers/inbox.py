"""Triggers: consuming the inbox — leases, acknowledgements, releases, the quarantine.

A consumer leases events, processes them and acknowledges them; a crashed consumer's
lease expires and its events come back; an event leased `max_attempts` times
(DOCKHAND_MAX_ATTEMPTS) and not acknowledged is quarantined when that last lease ends.

Data (events table, see common.triggers.events and docs/triggers.md):
* A pending event sits in the inbox partitions `gsi1pk` / `gsi2pk` twice: sorted by
  id for listing (gsi1 / gsi2) and by availability (gsi3 / gsi4, sort key gsi3sk =
  `<visible_at_ms>#<event_id>`).  A lease is one Query per shard of
  `gsi3sk <= now` oldest first, then one transaction that moves each event's gsi3sk to
  the lease's expiry: the event leaves the available range, and comes back into it
  when the lease expires, by time alone.  Leased, delivered and quarantined events are
  never read by a lease (delivered and quarantined ones leave the index altogether).
* Every claim is conditional on the gsi3sk and attempts the Query saw, so of two
  concurrent leases of one event exactly one commits.
* An event's last lease also files it in the quarantine (gsi5, `<expiry_ms>#<id>`):
  from that moment on it reads as quarantined (common.triggers.events.effective_status)
  and appears in GET /inbox/quarantine.  Its inbox keys are removed by the next lease
  that reaches it (it is available again, so the lease Query meets it): one
  conditional update in that lease's transaction, no sweeper.
* Lease record: pk `T#<tenant>#L#<ulid>`, sk `L`: the leased ids (for ack/release of
  "all of the lease"), kept a day after the lease ends.  Lease ids are signed (HMAC
  of tenant and ULID), so an unknown or another tenant's id is refused without a
  read, and an empty lease needs no write at all.

Every write is one TransactWriteItems per at most 96 events with the day counters
and the pending gauge (`_apply`): nothing is half-applied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.runtime.models import INTEGRAL, Count, Id, PageQuery, Time
from common.store import counters, dynamo, transact
from common.store.secrets import derived_key
from common.store.tables import (
    GSI1_PK,
    GSI1_SK,
    GSI2_PK,
    GSI2_SK,
    GSI3,
    GSI3_SK,
    GSI4,
    GSI5,
    GSI5_PK,
    GSI5_SK,
    PK,
    SK,
    TTL_ATTRIBUTE,
)
from common.triggers import events
from common.triggers.events import (
    ATTEMPTS,
    DELIVERED,
    HOME_PK,
    HOME_TYPE_PK,
    LEASE_EXPIRES_MS,
    LEASE_ID,
    LEASED_UNTIL,
    PENDING,
    QUARANTINED,
)

MAX_IDS = 100
LEASE_SK = "L"
LEASE_RECORD_SECONDS = 86_400  # a lease id answers for a day after its lease ends
LEASE_ROUNDS = 3  # Query + transaction rounds per lease call when others take candidates
_PER_TRANSACTION = 96  # events per transaction: room for counter, gauge, lease record
_MAX_CHANGE_ROUNDS = 4
_TAG_BYTES = 10  # 80-bit HMAC tag: 16 base32 characters after the ULID

# Results per event id.
ACKNOWLEDGED, LEASE_LOST, NOT_FOUND = "acknowledged", "lease_lost", "not_found"
LEASED, LOST, RELEASED, REQUEUED = "leased", "lost", "released", "requeued"


# Integers in a range: 30.0 is 30 (JSON Schema's rule), "30" and true are refused.
Limit = Annotated[int, Field(strict=True, ge=1, le=100), INTEGRAL]
LeaseSeconds = Annotated[int, Field(strict=True, ge=5, le=3600), INTEGRAL]
DelaySeconds = Annotated[int, Field(strict=True, ge=0, le=3600), INTEGRAL]
EventId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
EventIds = Annotated[list[EventId], Field(min_length=1, max_length=MAX_IDS)]
LeaseId = Annotated[StrictStr, Field(min_length=1, max_length=128)]


# ---------------------------------------------------------------- request models


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Limit = 10
    lease_seconds: LeaseSeconds = 300
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class AckRequest(BaseModel):
    """`event_ids` alone (as before), or `lease_id` with optional `event_ids`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["event_ids"], "properties": {"event_ids": {"type": "array"}}},
                {"required": ["lease_id"], "properties": {"lease_id": {"type": "string"}}},
            ]
        },
    )

    event_ids: EventIds | None = None
    lease_id: LeaseId | None = None


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: LeaseId
    event_ids: EventIds | None = None
    delay_seconds: DelaySeconds = 0


class RequeueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_ids: EventIds


class QuarantineQuery(PageQuery):
    """GET /inbox/quarantine: `limit` and `cursor`."""


# ---------------------------------------------------------------- response views
# Ids a request named that are not found are echoed as given (any string), so
# `not_found` lists plain strings, not ids.


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


@with_config(ConfigDict(extra="forbid", title="AckResult"))
class AckResultView(TypedDict):
    acknowledged: list[Id]
    lease_lost: list[Id]
    not_found: list[str]


@with_config(ConfigDict(extra="forbid", title="ReleaseResult"))
class ReleaseResultView(TypedDict):
    released: list[Id]
    not_found: list[str]


@with_config(ConfigDict(extra="forbid", title="QuarantinedItem"))
class QuarantinedItemView(events.PublicEvent):
    attempts: Count
    quarantined_at: Time


@with_config(ConfigDict(extra="forbid", title="RequeueResult"))
class RequeueResultView(TypedDict):
    requeued: list[Id]
    not_found: list[str]


# ---------------------------------------------------------------- lease ids


def _tag(tenant: str, ulid: str) -> str:
    mac = hmac.new(derived_key("lease-id"), f"{tenant}\n{ulid}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:_TAG_BYTES]).decode()


def new_lease_id(tenant: str) -> str:
    ulid = ids.new_id()
    return ulid + _tag(tenant, ulid)


def lease_ulid(tenant: str, lease_id: str) -> str:
    """The ULID of one of the tenant's lease ids; NotFound for anything else."""
    ulid, tag = lease_id[:26], lease_id[26:]
    expected = _tag(tenant, ulid).encode()
    if not ids.is_valid_id(ulid) or not hmac.compare_digest(tag.encode(), expected):
        raise NotFound("No such lease.")
    return ulid


def _lease_key(tenant: str, ulid: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#L#{ulid}", SK: LEASE_SK}


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class Change:
    """One conditional update of one event, what it means once committed, and what it
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


# After a failed condition: the event as it stood (None: absent) → a final result,
# or the change to try instead.
Decide = Callable[[str, dict[str, Any] | None], "str | Change"]
Extra = Callable[[Mapping[str, Change]], list[dict[str, Any]]]


def _no_extra(_: Mapping[str, Change]) -> list[dict[str, Any]]:
    return []


def _apply(
    tenant: str,
    changes: Mapping[str, Change],
    decide: Decide,
    now: float,
    extra: Extra = _no_extra,
) -> tuple[dict[str, str], list[Change]]:
    """Commit `changes`, at most 96 a transaction with their counters and gauge.

    A cancelled transaction's ALL_OLD reasons say, per event, what it ran into;
    `decide` turns that into a result or another change, and the rest are tried again
    without it.  Returns (result per event id, the changes that committed)."""
    results: dict[str, str] = {}
    committed: list[Change] = []
    ordered = list(changes.items())
    for first in range(0, len(ordered), _PER_TRANSACTION):
        chunk = dict(ordered[first : first + _PER_TRANSACTION])
        chunk_results, chunk_committed = _apply_chunk(tenant, chunk, decide, now, extra)
        results.update(chunk_results)
        committed += chunk_committed
    return results, committed


def _apply_chunk(
    tenant: str, chunk: Mapping[str, Change], decide: Decide, now: float, extra: Extra
) -> tuple[dict[str, str], list[Change]]:
    results: dict[str, str] = {}
    pending = dict(chunk)
    for _ in range(_MAX_CHANGE_ROUNDS):
        if not pending:
            return results, []
        reasons = transact.run(_transaction(tenant, pending, now, extra))
        if reasons is None:
            results.update({event_id: change.result for event_id, change in pending.items()})
            return results, list(pending.values())
        retry: dict[str, Change] = {}
        for (event_id, change), reason in zip(pending.items(), reasons, strict=False):
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


def _transaction(
    tenant: str, pending: Mapping[str, Change], now: float, extra: Extra
) -> list[dict[str, Any]]:
    items = [change.op for change in pending.values()]
    counts: dict[str, int] = {}
    for change in pending.values():
        for name, amount in change.counts.items():
            counts[name] = counts.get(name, 0) + amount
    if counts:
        items.append(counters.update_item(tenant, counts, now))
    gauge = sum(change.gauge for change in pending.values())
    if gauge:
        items.append(events.gauge_update(tenant, gauge))
    return items + extra(pending)


def _unique_valid(event_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(ids in request order without repeats, the subset that can name an event)."""
    unique = list(dict.fromkeys(event_ids))
    return unique, [i for i in unique if ids.is_valid_id(i)]


def _update(tenant: str, event_id: str, expression: str, guard: Guard) -> dict[str, Any]:
    return dynamo.update_op(
        settings().events_table,
        {PK: events.event_pk(tenant, event_id), SK: events.EVENT_SK},
        expression,
        condition=guard.condition,
        names={"#status": "status", **guard.names},
        values=guard.values,
        return_old_on_failure=True,
    )


_INBOX_KEYS = {"#g1pk": GSI1_PK, "#g1sk": GSI1_SK, "#g2pk": GSI2_PK, "#g2sk": GSI2_SK}
_LEASE_FIELDS = {"#lid": LEASE_ID, "#lexp": LEASE_EXPIRES_MS, "#luntil": LEASED_UNTIL}
_REMOVE_INBOX = "#g1pk, #g1sk, #g2pk, #g2sk, #vsk, #lid, #lexp, #luntil"


# ---------------------------------------------------------------- lease


def lease(tenant: str, limit: int, lease_seconds: int, event_type: str | None) -> LeaseView:
    """Up to `limit` of the oldest available events, held until `lease_seconds` from now.

    Round trips: one Query per inbox shard and one transaction; another round (at most
    LEASE_ROUNDS) only when concurrent leases took candidates or quarantines used slots.
    """
    now = clock.now()
    now_ms = events.millis(now)
    until_ms = now_ms + lease_seconds * 1000
    lease_id = new_lease_id(tenant)
    ulid = lease_id[:26]
    claim = _Claim(tenant, lease_id, until_ms, clock.iso(until_ms / 1000), now)
    leased: list[LeasedItem] = []
    quarantined = 0
    for _ in range(LEASE_ROUNDS):
        want = limit - len(leased)
        candidates = _available(tenant, event_type, want, now_ms)
        changes = {str(item["event_id"]): claim.change(item) for item in candidates}
        results, _ = _apply(
            tenant, changes, _lost, now, lambda pending: _record_lease(tenant, ulid, claim, pending)
        )
        leased += [
            {**events.public_item(item), "attempts": int(item.get(ATTEMPTS, 0)) + 1}
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


def _available(tenant: str, event_type: str | None, want: int, now_ms: int) -> list[dict[str, Any]]:
    """The `want` oldest available events over all shards: one Query per shard of
    `gsi3sk <= now` (Limit `want`), merged oldest first across shards."""
    if want <= 0:
        return []
    index = GSI3 if event_type is None else GSI4
    fetched: list[dict[str, Any]] = []
    for shard in range(settings().inbox_shards):
        if event_type is None:
            pool_name, pool = GSI1_PK, events.inbox_pk(tenant, shard)
        else:
            pool_name, pool = GSI2_PK, events.type_inbox_pk(tenant, event_type, shard)
        fetched += dynamo.query(
            settings().events_table,
            "#pk = :pk AND #sk <= :to",
            names={"#pk": pool_name, "#sk": GSI3_SK},
            values={":pk": pool, ":to": events.time_key(now_ms, "~")},
            index=index,
            limit=want,
        ).items
    fetched.sort(key=lambda item: str(item[GSI3_SK]))
    return fetched[:want]


@dataclass(frozen=True)
class _Claim:
    tenant: str
    lease_id: str
    until_ms: int
    until_iso: str
    now: float

    def change(self, item: Mapping[str, Any]) -> Change:
        """Lease the event, or quarantine it if its last lease has ended."""
        event_id = str(item["event_id"])
        attempts = int(item.get(ATTEMPTS, 0))
        # Exactly the version the Query saw: gsi3sk moves on every lease and release,
        # attempts only grows until a requeue, so no other change can look the same.
        guard = Guard(
            "#vsk = :seen AND #att = :att AND #status = :pending",
            {"#vsk": GSI3_SK, "#att": ATTEMPTS},
            {":seen": item[GSI3_SK], ":att": attempts, ":pending": PENDING},
        )
        shard = events.shard_of(str(item[GSI1_PK]))
        if GSI5_PK in item:  # its last lease expired: filed in the quarantine at expiry
            return _quarantine(self.tenant, event_id, shard, int(item[LEASE_EXPIRES_MS]), guard)
        if attempts >= settings().max_attempts:  # max_attempts was lowered meanwhile
            return _quarantine(self.tenant, event_id, shard, events.millis(self.now), guard)
        expression = "SET #vsk = :next, #att = :att1, #lid = :lid, #lexp = :lexp, #luntil = :luntil"
        guard = guard.also(
            _LEASE_FIELDS,
            {
                ":next": events.time_key(self.until_ms, event_id),
                ":att1": attempts + 1,
                ":lid": self.lease_id,
                ":lexp": self.until_ms,
                ":luntil": self.until_iso,
            },
        )
        if attempts + 1 >= settings().max_attempts:  # the last lease: quarantine at expiry
            expression += ", #qpk = :qpk, #qsk = :qsk"
            guard = guard.also(
                {"#qpk": GSI5_PK, "#qsk": GSI5_SK},
                {
                    ":qpk": events.quarantine_pk(self.tenant, shard),
                    ":qsk": events.time_key(self.until_ms, event_id),
                },
            )
        return Change(
            _update(self.tenant, event_id, expression, guard), LEASED, {"events_leased": 1}
        )


def _quarantine(
    tenant: str,
    event_id: str,
    shard: int,
    at_ms: int,
    guard: Guard,
    *,
    counts: Mapping[str, int] | None = None,
) -> Change:
    """Out of the inbox and every lease, into the quarantine at `at_ms`."""
    expression = (
        "SET #status = :quarantined, quarantined_at = :qat, #qpk = :qpk, #qsk = :qsk "
        f"REMOVE {_REMOVE_INBOX}"
    )
    guard = guard.also(
        {**_INBOX_KEYS, **_LEASE_FIELDS, "#vsk": GSI3_SK, "#qpk": GSI5_PK, "#qsk": GSI5_SK},
        {
            ":quarantined": QUARANTINED,
            ":qat": clock.iso(at_ms / 1000),
            ":qpk": events.quarantine_pk(tenant, shard),
            ":qsk": events.time_key(at_ms, event_id),
        },
    )
    return Change(
        _update(tenant, event_id, expression, guard),
        QUARANTINED,
        counts if counts is not None else {"events_quarantined": 1},
        gauge=-1,
    )


def _lost(_: str, __: dict[str, Any] | None) -> str:
    """A candidate another lease (or an ack) changed after our Query: not ours."""
    return LOST


def _record_lease(
    tenant: str, ulid: str, claim: _Claim, pending: Mapping[str, Change]
) -> list[dict[str, Any]]:
    """The lease record's update for the events this transaction leases (none: none)."""
    leased = [event_id for event_id, change in pending.items() if change.result == LEASED]
    if not leased:
        return []
    return [
        dynamo.update_op(
            settings().events_table,
            _lease_key(tenant, ulid),
            "SET #tenant = :tenant, #exp = :exp, "
            "event_ids = list_append(if_not_exists(event_ids, :empty), :ids)",
            names={"#tenant": "tenant", "#exp": TTL_ATTRIBUTE},
            values={
                ":tenant": tenant,
                ":exp": claim.until_ms // 1000 + LEASE_RECORD_SECONDS,
                ":empty": [],
                ":ids": leased,
            },
        )
    ]


def _lease_events(tenant: str, ulid: str) -> list[str]:
    record = dynamo.get(settings().events_table, _lease_key(tenant, ulid))
    return [str(i) for i in (record or {}).get("event_ids", [])]


# ---------------------------------------------------------------- acknowledge


def _deliver(tenant: str, event_id: str, now: float, guard: Guard, gauge: int) -> Change:
    """Delivered: out of every index, kept for the retention period, counted once."""
    expires_at = int(now) + settings().delivered_retention_days * 86_400
    expression = (
        "SET #status = :delivered, delivered_at = :now_iso, #exp = :exp "
        "REMOVE #g1pk, #g1sk, #g2pk, #g2sk, #vsk, #qpk, #qsk"
    )
    guard = guard.also(
        {**_INBOX_KEYS, "#exp": TTL_ATTRIBUTE, "#vsk": GSI3_SK, "#qpk": GSI5_PK, "#qsk": GSI5_SK},
        {":delivered": DELIVERED, ":now_iso": clock.iso(now), ":exp": expires_at},
    )
    return Change(
        _update(tenant, event_id, expression, guard),
        ACKNOWLEDGED,
        {"events_delivered": 1},
        gauge=gauge,
    )


def _ack_pending(tenant: str, event_id: str, now: float) -> Change:
    guard = Guard(
        "attribute_exists(#pk) AND #status = :pending", {"#pk": PK}, {":pending": PENDING}
    )
    return _deliver(tenant, event_id, now, guard, -1)


def _ack_quarantined(tenant: str, event_id: str, now: float) -> Change:
    # Quarantined events are off the pending gauge already.
    guard = Guard("#status = :quarantined", {}, {":quarantined": QUARANTINED})
    return _deliver(tenant, event_id, now, guard, 0)


def _ack_in_lease(tenant: str, event_id: str, lease_id: str, now: float) -> Change:
    """Pending and not held by another live lease (ours, or nobody's any more)."""
    guard = Guard(
        "#status = :pending AND (#lid = :lid OR attribute_not_exists(#lexp) OR #lexp <= :now_ms)",
        {"#lid": LEASE_ID, "#lexp": LEASE_EXPIRES_MS},
        {":pending": PENDING, ":lid": lease_id, ":now_ms": events.millis(now)},
    )
    return _deliver(tenant, event_id, now, guard, -1)


def acknowledge(tenant: str, event_id: str) -> None:
    """DELETE /events/{id}: delivered from any state (idempotent); NotFound otherwise."""
    if not acknowledge_many(tenant, [event_id])["acknowledged"]:
        raise NotFound("No such event.")


def acknowledge_many(tenant: str, event_ids: Sequence[str]) -> AckResultView:
    """Acknowledge events whatever holds them: pending (leased or not) or quarantined
    are delivered, already delivered ones are acknowledged again (not counted again),
    the rest are not found.  One transaction per 96 ids when all are pending."""
    now = clock.now()

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        if old.get("status") == DELIVERED:
            return ACKNOWLEDGED
        if old.get("status") == QUARANTINED:
            return _ack_quarantined(tenant, event_id, now)
        return _ack_pending(tenant, event_id, now)

    unique, valid = _unique_valid(event_ids)
    changes = {event_id: _ack_pending(tenant, event_id, now) for event_id in valid}
    return _ack_outcome(tenant, unique, changes, decide, now)


def acknowledge_lease(tenant: str, lease_id: str, event_ids: Sequence[str] | None) -> AckResultView:
    """Acknowledge the events of a lease (all of them, or those named).

    An event another live lease now holds is `lease_lost`; one whose lease expired but
    that nobody else holds is still acknowledged.  Named ids: one transaction; all of
    the lease: one GetItem of the lease record first."""
    ulid = lease_ulid(tenant, lease_id)
    now = clock.now()
    now_ms = events.millis(now)
    named = list(event_ids) if event_ids is not None else _lease_events(tenant, ulid)

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        if old.get("status") == DELIVERED:
            return ACKNOWLEDGED
        if old.get("status") == QUARANTINED:
            return _ack_quarantined(tenant, event_id, now)
        if old.get(LEASE_ID) != lease_id and int(old.get(LEASE_EXPIRES_MS, 0)) > now_ms:
            return LEASE_LOST
        return _ack_in_lease(tenant, event_id, lease_id, now)

    unique, valid = _unique_valid(named)
    changes = {event_id: _ack_in_lease(tenant, event_id, lease_id, now) for event_id in valid}
    return _ack_outcome(tenant, unique, changes, decide, now)


def _ack_outcome(
    tenant: str, unique: list[str], changes: Mapping[str, Change], decide: Decide, now: float
) -> AckResultView:
    results, committed = _apply(tenant, changes, decide, now)
    delivered = sum(1 for change in committed if change.result == ACKNOWLEDGED)
    if delivered:
        catalogue.count("events_delivered", delivered)
    outcome = {event_id: results.get(event_id, NOT_FOUND) for event_id in unique}
    return {
        "acknowledged": [i for i in unique if outcome[i] == ACKNOWLEDGED],
        "lease_lost": [i for i in unique if outcome[i] == LEASE_LOST],
        "not_found": [i for i in unique if outcome[i] == NOT_FOUND],
    }


# ---------------------------------------------------------------- release


def release(
    tenant: str, lease_id: str, event_ids: Sequence[str] | None, delay_seconds: int
) -> ReleaseResultView:
    """Events this lease still holds become available again after `delay_seconds`,
    attempts kept; one on its last attempt is quarantined instead (its
    last lease has ended).  Events the lease no longer holds are not found."""
    ulid = lease_ulid(tenant, lease_id)
    now = clock.now()
    now_ms = events.millis(now)
    visible_ms = now_ms + delay_seconds * 1000
    named = list(event_ids) if event_ids is not None else _lease_events(tenant, ulid)
    held = "#status = :pending AND #lid = :lid AND #lexp > :now_ms"
    names = {"#qpk": GSI5_PK, **_LEASE_FIELDS}
    values: dict[str, Any] = {":pending": PENDING, ":lid": lease_id, ":now_ms": now_ms}

    def back(event_id: str) -> Change:
        guard = Guard(held + " AND attribute_not_exists(#qpk)", names, values).also(
            {"#vsk": GSI3_SK}, {":next": events.time_key(visible_ms, event_id)}
        )
        expression = "SET #vsk = :next REMOVE #lid, #lexp, #luntil"
        return Change(
            _update(tenant, event_id, expression, guard), RELEASED, {"events_released": 1}
        )

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None or old.get("status") != PENDING or old.get(LEASE_ID) != lease_id:
            return NOT_FOUND
        if int(old.get(LEASE_EXPIRES_MS, 0)) <= now_ms:
            return NOT_FOUND
        if GSI5_PK not in old:
            return back(event_id)
        # Its last lease ends now: quarantined (whatever the delay).
        change = _quarantine(
            tenant,
            event_id,
            events.shard_of(str(old[HOME_PK])),
            now_ms,
            Guard(held + " AND attribute_exists(#qpk)", names, values),
            counts={"events_released": 1, "events_quarantined": 1},
        )
        return Change(change.op, RELEASED, change.counts, change.gauge)

    unique, valid = _unique_valid(named)
    results, committed = _apply(tenant, {i: back(i) for i in valid}, decide, now)
    released = sum(1 for change in committed if change.result == RELEASED)
    quarantined = sum(change.counts.get("events_quarantined", 0) for change in committed)
    if released:
        catalogue.count("events_released", released)
    if quarantined:
        catalogue.count("events_quarantined", quarantined)
    outcome = {event_id: results.get(event_id, NOT_FOUND) for event_id in unique}
    return {
        "released": [i for i in unique if outcome[i] == RELEASED],
        "not_found": [i for i in unique if outcome[i] == NOT_FOUND],
    }


# ---------------------------------------------------------------- quarantine


def quarantine_page(
    tenant: str, limit: int, cursor: str | None
) -> tuple[list[QuarantinedItemView], str | None]:
    """Quarantined events, oldest quarantine first: one Query per shard of the
    quarantine index (gsi5) up to now, so a last lease shows from its expiry on."""
    now = clock.now()
    to = events.time_key(events.millis(now), "~")

    def read(shard: int, after: str | None, count: int) -> list[dict[str, Any]]:
        return dynamo.query(
            settings().events_table,
            "#pk = :pk AND #sk BETWEEN :from AND :to",
            names={"#pk": GSI5_PK, "#sk": GSI5_SK},
            # Every gsi5sk has one length, so the next one after `after` is >= after + "!".
            values={
                ":pk": events.quarantine_pk(tenant, shard),
                ":from": (after or "") + "!",
                ":to": to,
            },
            index=GSI5,
            limit=count,
        ).items

    page, next_cursor = events.merged_page(
        tenant, {"quarantine": True}, cursor, limit, read=read, position=lambda i: i[GSI5_SK]
    )
    return [_quarantined_item(item) for item in page], next_cursor


def _quarantined_item(item: Mapping[str, Any]) -> QuarantinedItemView:
    quarantined_at = item.get("quarantined_at")
    if quarantined_at is None:  # a last lease that expired: quarantined at its expiry
        quarantined_at = clock.iso(int(item[LEASE_EXPIRES_MS]) / 1000)
    return {
        **events.public_item(item),
        "attempts": int(item.get(ATTEMPTS, 0)),
        "quarantined_at": quarantined_at,
    }


def requeue(tenant: str, event_ids: Sequence[str]) -> RequeueResultView:
    """Quarantined events become pending again, attempts 0."""
    now = clock.now()
    now_ms = events.millis(now)

    def stored(event_id: str) -> Change:
        # The inbox partitions come back from the item itself (home_pk, home_type_pk).
        guard = Guard(
            "#status = :quarantined",
            {
                **_INBOX_KEYS,
                "#att": ATTEMPTS,
                "#home": HOME_PK,
                "#home_type": HOME_TYPE_PK,
                "#vsk": GSI3_SK,
                "#qpk": GSI5_PK,
                "#qsk": GSI5_SK,
            },
            {
                ":pending": PENDING,
                ":quarantined": QUARANTINED,
                ":zero": 0,
                ":id": event_id,
                ":visible": events.time_key(now_ms, event_id),
            },
        )
        expression = (
            "SET #status = :pending, #att = :zero, #g1pk = #home, #g1sk = :id, "
            "#g2pk = #home_type, #g2sk = :id, #vsk = :visible "
            "REMOVE #qpk, #qsk, quarantined_at"
        )
        return Change(_update(tenant, event_id, expression, guard), REQUEUED, gauge=+1)

    def last_lease_expired(event_id: str) -> Change:
        # Still in the inbox (no lease has moved it yet): only the lease state resets.
        guard = Guard(
            "#status = :pending AND attribute_exists(#qpk) AND #lexp <= :now_ms",
            {"#att": ATTEMPTS, "#vsk": GSI3_SK, "#qpk": GSI5_PK, "#qsk": GSI5_SK, **_LEASE_FIELDS},
            {
                ":pending": PENDING,
                ":zero": 0,
                ":now_ms": now_ms,
                ":visible": events.time_key(now_ms, event_id),
            },
        )
        expression = "SET #att = :zero, #vsk = :visible REMOVE #qpk, #qsk, #lid, #lexp, #luntil"
        return Change(_update(tenant, event_id, expression, guard), REQUEUED)

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        if old.get("status") == QUARANTINED:
            return stored(event_id)
        if old.get("status") == PENDING and events.last_lease_expired(old, now):
            return last_lease_expired(event_id)
        return NOT_FOUND

    unique, valid = _unique_valid(event_ids)
    results, _ = _apply(tenant, {i: stored(i) for i in valid}, decide, now)
    requeued = [i for i in unique if results.get(i) == REQUEUED]
    return {"requeued": requeued, "not_found": [i for i in unique if i not in requeued]}


# ---------------------------------------------------------------- figures


def leased_count(tenant: str) -> int:
    """Events under a live lease now (the rollup's inbox_leased): the part of each
    shard's lease index that is not yet visible, less delayed releases.  Background
    only: it reads every leased event (bounded by what consumers hold, not the backlog)."""
    now_ms = events.millis(clock.now())
    total = 0
    for shard in range(settings().inbox_shards):
        total += sum(
            1
            for _ in dynamo.query_all(
                settings().events_table,
                "#pk = :pk AND #sk > :to",
                names={"#pk": GSI1_PK, "#sk": GSI3_SK, "#lexp": LEASE_EXPIRES_MS},
                values={
                    ":pk": events.inbox_pk(tenant, shard),
                    ":to": events.time_key(now_ms, "~"),
                    ":now_ms": now_ms,
                },
                index=GSI3,
                projection="pk",
                filter_expression="#lexp > :now_ms",
            )
        )
    return total
