"""POST /inbox/release: items a lease still holds become available again after a delay,
attempts kept; an item on its last attempt is quarantined instead (its last lease has
ended).  Items the lease no longer holds are not found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import catalogue, clock
from common.runtime.models import INTEGRAL, BodyModel, Id
from common.runtime.slug import Slug
from common.triggers import layout
from common.triggers.inbox import changes, quarantine, state
from common.triggers.inbox.ack import EventIds, LeaseId
from common.triggers.inbox.changes import (
    LEASE_FIELDS,
    NOT_FOUND,
    RELEASED,
    REMOVE_LEASE,
    Change,
    Guard,
)
from common.triggers.inbox.place import Place

DelaySeconds = Annotated[int, Field(strict=True, ge=0, le=3600), INTEGRAL]


class ReleaseRequest(BodyModel):
    lease_id: LeaseId
    event_ids: EventIds | None = None
    delay_seconds: DelaySeconds = 0
    queue: Slug = layout.INBOX


@with_config(ConfigDict(extra="forbid", title="ReleaseResult"))
class ReleaseResultView(TypedDict):
    released: list[Id]
    not_found: list[str]


_HELD = "#status = :pending AND #lid = :lid AND #lexp > :now_ms"


def _held_guard(lease_id: str, now_ms: int, *, last: bool) -> Guard:
    quarantine_filed = "attribute_exists(#qpk)" if last else "attribute_not_exists(#qpk)"
    return Guard(
        f"{_HELD} AND {quarantine_filed}",
        {"#qpk": layout.QUARANTINE_PK, **LEASE_FIELDS},
        {":pending": state.PENDING, ":lid": lease_id, ":now_ms": now_ms},
    )


def _back(place: Place, event_id: str, lease_id: str, now_ms: int, visible_ms: int) -> Change:
    guard = _held_guard(lease_id, now_ms, last=False).also(
        {"#vsk": layout.VISIBLE_SK}, {":next": layout.time_key(visible_ms, event_id)}
    )
    expression = f"SET #vsk = :next REMOVE {REMOVE_LEASE}"
    return Change(
        changes.update(place.key(event_id), expression, guard), RELEASED, {"events_released": 1}
    )


def release_changes(
    place: Place, lease_id: str, event_ids: Sequence[str], delay_seconds: int, now: float
) -> tuple[dict[str, str], list[Change]]:
    """Release `event_ids` from `lease_id`: (result per id, committed changes)."""
    now_ms = layout.millis(now)
    visible_ms = now_ms + delay_seconds * 1000

    def decide(event_id: str, old: dict[str, Any] | None) -> str | Change:
        if old is None or old.get(layout.LEASE_ID) != lease_id or not state.held_now(old, now_ms):
            return NOT_FOUND
        if layout.QUARANTINE_PK not in old:
            return _back(place, event_id, lease_id, now_ms, visible_ms)
        # Its last lease ends now: quarantined (whatever the delay).
        change = quarantine.to_quarantine(
            place,
            event_id,
            layout.shard_of(str(old[layout.HOME_PK])),
            now_ms,
            _held_guard(lease_id, now_ms, last=True),
            counts={"events_released": 1, "events_quarantined": 1},
        )
        return Change(change.op, RELEASED, change.counts, change.gauge)

    first = {i: _back(place, i, lease_id, now_ms, visible_ms) for i in event_ids}
    results, committed = changes.apply(place, first, decide, now)
    released = sum(1 for change in committed if change.result == RELEASED)
    quarantined = sum(change.counts.get("events_quarantined", 0) for change in committed)
    if released:
        catalogue.count("events_released", released)
    if quarantined:
        catalogue.count("events_quarantined", quarantined)
    return results, committed


def release(
    place: Place, lease_id: str, event_ids: Sequence[str] | None, delay_seconds: int
) -> ReleaseResultView:
    named = changes.lease_events(place, lease_id, event_ids)
    unique, valid = changes.unique_valid(named)
    results, _ = release_changes(place, lease_id, valid, delay_seconds, clock.now())
    found = changes.outcome(unique, results, RELEASED, NOT_FOUND)
    return {"released": found[RELEASED], "not_found": found[NOT_FOUND]}
