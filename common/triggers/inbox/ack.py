"""POST /inbox/ack and DELETE /events/{id}: acknowledged is final (delivered), from any
state; with a lease id, an item another live lease now holds is `lease_lost`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictStr, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.errors import NotFound
from common.runtime.models import BodyModel, Id
from common.runtime.slug import Slug
from common.store.tables import PK, TTL_ATTRIBUTE
from common.triggers import layout
from common.triggers.inbox import changes, state
from common.triggers.inbox.changes import (
    ACKNOWLEDGED,
    LEASE_FIELDS,
    LEASE_LOST,
    MAX_IDS,
    NOT_FOUND,
    POOL_KEYS,
    REMOVE_POOLS,
    Change,
    Decide,
    Guard,
)
from common.triggers.inbox.place import Place

EventId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
EventIds = Annotated[list[EventId], Field(min_length=1, max_length=MAX_IDS)]
LeaseId = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class AckRequest(BodyModel):
    """`event_ids` alone (as before), or `lease_id` with optional `event_ids`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["event_ids"], "properties": {"event_ids": {"type": "array"}}},
                {"required": ["lease_id"], "properties": {"lease_id": {"type": "string"}}},
            ]
        },
    )

    event_ids: EventIds | None = None
    lease_id: LeaseId | None = None
    queue: Slug = layout.INBOX


@with_config(ConfigDict(extra="forbid", title="AckResult"))
class AckResultView(TypedDict):
    acknowledged: list[Id]
    lease_lost: list[Id]
    not_found: list[str]


def _deliver(place: Place, event_id: str, now: float, guard: Guard, gauge: int) -> Change:
    """Delivered: out of every index, kept for the retention period, counted once."""
    expires_at = int(now) + settings().delivered_retention_days * 86_400
    expression = (
        "SET #status = :delivered, delivered_at = :now_iso, #exp = :exp "
        f"REMOVE {REMOVE_POOLS}, #qpk, #qsk, #hpk, #hsk"
    )
    guard = guard.also(
        {
            **POOL_KEYS,
            "#exp": TTL_ATTRIBUTE,
            "#vsk": layout.VISIBLE_SK,
            "#qpk": layout.QUARANTINE_PK,
            "#qsk": layout.QUARANTINE_SK,
            "#hpk": layout.HOLDER_PK,
            "#hsk": layout.HOLDER_SK,
        },
        {":delivered": state.DELIVERED, ":now_iso": clock.iso(now), ":exp": expires_at},
    )
    return Change(
        changes.update(place.key(event_id), expression, guard),
        ACKNOWLEDGED,
        {"events_delivered": 1},
        gauge=gauge,
    )


def _ack_pending(place: Place, event_id: str, now: float) -> Change:
    guard = Guard(
        "attribute_exists(#pk) AND #status = :pending", {"#pk": PK}, {":pending": state.PENDING}
    )
    return _deliver(place, event_id, now, guard, -1)


def _ack_quarantined(place: Place, event_id: str, now: float) -> Change:
    # Quarantined items are off the pending gauge already.
    guard = Guard("#status = :quarantined", {}, {":quarantined": state.QUARANTINED})
    return _deliver(place, event_id, now, guard, 0)


def _ack_in_lease(place: Place, event_id: str, lease_id: str, now: float) -> Change:
    """Pending and not held by another live lease (ours, or nobody's any more)."""
    guard = Guard(
        "#status = :pending AND (#lid = :lid OR attribute_not_exists(#lexp) OR #lexp <= :now_ms)",
        {"#lid": LEASE_FIELDS["#lid"], "#lexp": LEASE_FIELDS["#lexp"]},
        {":pending": state.PENDING, ":lid": lease_id, ":now_ms": layout.millis(now)},
    )
    return _deliver(place, event_id, now, guard, -1)


def acknowledge(place: Place, event_id: str) -> None:
    """DELETE /events/{id}: delivered from any state (idempotent); NotFound otherwise."""
    if not acknowledge_many(place, [event_id])["acknowledged"]:
        raise NotFound("No such event.")


def acknowledge_many(place: Place, event_ids: Sequence[str]) -> AckResultView:
    """Acknowledge items whatever holds them: pending (leased or not) or quarantined
    are delivered, already delivered ones are acknowledged again (not counted again),
    the rest are not found.  One transaction per 96 ids when all are pending."""
    now = clock.now()

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        settled = _settled(place, event_id, old, now)
        return _ack_pending(place, event_id, now) if settled is None else settled

    unique, valid = changes.unique_valid(event_ids)
    first = {event_id: _ack_pending(place, event_id, now) for event_id in valid}
    return _ack_outcome(place, unique, first, decide, now)


def acknowledge_lease(
    place: Place,
    lease_id: str,
    event_ids: Sequence[str] | None,
    *,
    extra: changes.Extra | None = None,
) -> AckResultView:
    """Acknowledge the items of a lease (all of them, or those named).

    An item another live lease now holds is `lease_lost`; one whose lease expired but
    that nobody else holds is still acknowledged.  Named ids: one transaction; all of
    the lease: one GetItem of the lease record first.  `extra(pending)`: more items for
    each transaction, given the changes it commits (an agent's job outcome events), so
    they are stored exactly when their acknowledgements are; an item acknowledged
    before is answered from its stored state and adds nothing."""
    named = changes.lease_events(place, lease_id, event_ids)
    now = clock.now()
    now_ms = layout.millis(now)

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None:
            return NOT_FOUND
        settled = _settled(place, event_id, old, now)
        if settled is not None:
            return settled
        if old.get(layout.LEASE_ID) != lease_id and state.held_now(old, now_ms):
            return LEASE_LOST
        return _ack_in_lease(place, event_id, lease_id, now)

    unique, valid = changes.unique_valid(named)
    first = {event_id: _ack_in_lease(place, event_id, lease_id, now) for event_id in valid}
    return _ack_outcome(place, unique, first, decide, now, extra=extra)


def _settled(place: Place, event_id: str, old: dict[str, Any], now: float) -> str | Change | None:
    """The answer for an item already delivered or quarantined; None for a pending one,
    which each way of acknowledging decides itself."""
    if old.get(layout.STATUS) == state.DELIVERED:
        return ACKNOWLEDGED
    if old.get(layout.STATUS) == state.QUARANTINED:
        return _ack_quarantined(place, event_id, now)
    return None


def _ack_outcome(
    place: Place,
    unique: list[str],
    first: dict[str, Change],
    decide: Decide,
    now: float,
    *,
    extra: changes.Extra | None = None,
) -> AckResultView:
    if extra is None:
        results, committed = changes.apply(place, first, decide, now)
    else:
        results, committed = changes.apply(place, first, decide, now, extra)
    delivered = sum(1 for change in committed if change.result == ACKNOWLEDGED)
    if delivered:
        catalogue.count("events_delivered", delivered)
    found = changes.outcome(unique, results, ACKNOWLEDGED, LEASE_LOST, NOT_FOUND)
    return {
        "acknowledged": found[ACKNOWLEDGED],
        "lease_lost": found[LEASE_LOST],
        "not_found": found[NOT_FOUND],
    }
