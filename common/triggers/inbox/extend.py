"""POST /inbox/extend: a lease's items held `lease_seconds` from now (SQS's
ChangeMessageVisibility).  Also what an agent's heartbeat does to the leases it holds
(common.triggers.inbox.held), each by its own lease_seconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import clock
from common.runtime.models import BodyModel, Id, Time
from common.runtime.slug import Slug
from common.triggers import layout
from common.triggers.inbox import changes, state
from common.triggers.inbox.ack import EventIds, LeaseId
from common.triggers.inbox.changes import (
    EXTENDED,
    LEASE_FIELDS,
    LEASE_LOST,
    NOT_FOUND,
    Change,
    Guard,
)
from common.triggers.inbox.lease import LeaseSeconds, held_sort_key
from common.triggers.inbox.place import Place


class ExtendRequest(BodyModel):
    lease_id: LeaseId
    lease_seconds: LeaseSeconds
    event_ids: EventIds | None = None
    queue: Slug = layout.INBOX


@with_config(ConfigDict(extra="forbid", title="ExtendResult"))
class ExtendResultView(TypedDict):
    extended: list[Id]
    lease_lost: list[Id]
    not_found: list[str]
    expires_at: Time


def extension(
    place: Place,
    event_id: str,
    lease_id: str,
    until_ms: int,
    *,
    last: bool,
    holder: str | None = None,
    expected_expiry: int | None = None,
) -> Change:
    """This lease's hold on the item moved to `until_ms`.

    `last`: the item is on its last lease, so its quarantine filing moves too.  A lease
    whose time ran out still extends while no other lease took the item (it still names
    this lease), except a last lease: that item is quarantined already.
    `expected_expiry`: extend only if the expiry is still that (a heartbeat's extension
    must not outlive a release or a later lease)."""
    condition = "#status = :pending AND #lid = :lid"
    condition += " AND attribute_exists(#qpk)" if last else " AND attribute_not_exists(#qpk)"
    now_ms = layout.millis(clock.now())
    values: dict[str, Any] = {
        ":pending": state.PENDING,
        ":lid": lease_id,
        ":next": layout.time_key(until_ms, event_id),
        ":lexp": until_ms,
        ":luntil": clock.iso(until_ms / 1000),
    }
    if last:
        condition += " AND #lexp > :now_ms"
        values[":now_ms"] = now_ms
    if expected_expiry is not None:
        condition += " AND #lexp = :expected"
        values[":expected"] = expected_expiry
    expression = "SET #vsk = :next, #lexp = :lexp, #luntil = :luntil"
    if last:
        expression += ", #qsk = :next"
    if holder is None:
        condition += " AND attribute_not_exists(#hpk)"
    else:
        expression += ", #hsk = :hsk"
        values[":hsk"] = held_sort_key(until_ms, place, event_id)
    names = {"#vsk": layout.VISIBLE_SK, "#qpk": layout.QUARANTINE_PK, **LEASE_FIELDS}
    if last:
        names["#qsk"] = layout.QUARANTINE_SK
    names = {k: v for k, v in names.items() if k in condition or k in expression}
    return Change(
        changes.update(place.key(event_id), expression, Guard(condition, names, values)), EXTENDED
    )


def _decided(place: Place, lease_id: str, until_ms: int, now_ms: int) -> changes.Decide:
    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None or old.get(layout.STATUS) != state.PENDING:
            return NOT_FOUND
        if old.get(layout.LEASE_ID) != lease_id:
            return LEASE_LOST if state.held_now(old, now_ms) else NOT_FOUND
        last = layout.QUARANTINE_PK in old
        if last and int(old.get(layout.LEASE_EXPIRES_MS, 0)) <= now_ms:
            return NOT_FOUND  # its last lease ended: quarantined
        holder = old.get(layout.HOLDER) if layout.HOLDER_PK in old else None
        return extension(place, event_id, lease_id, until_ms, last=last, holder=holder)

    return decide


def extend(
    place: Place, lease_id: str, lease_seconds: int, event_ids: Sequence[str] | None
) -> ExtendResultView:
    """The lease's items (or those named) now held until `lease_seconds` from now.

    One transaction when no item is on its last lease or held by an agent (the first
    try assumes neither; the condition's ALL_OLD says which variant to use)."""
    named = changes.lease_events(place, lease_id, event_ids)
    now = clock.now()
    now_ms = layout.millis(now)
    until_ms = now_ms + lease_seconds * 1000
    unique, valid = changes.unique_valid(named)
    first = {i: extension(place, i, lease_id, until_ms, last=False) for i in valid}
    results, _ = changes.apply(place, first, _decided(place, lease_id, until_ms, now_ms), now)
    found = changes.outcome(unique, results, EXTENDED, LEASE_LOST, NOT_FOUND)
    return {
        "extended": found[EXTENDED],
        "lease_lost": found[LEASE_LOST],
        "not_found": found[NOT_FOUND],
        "expires_at": clock.iso(until_ms / 1000),
    }
