"""What a client sees of an item's lease state, derived at read time: an expired lease
frees its item and an expired last lease quarantines it by time alone (no job runs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from common.triggers import layout
from common.triggers.layout import LEASE_EXPIRES_MS, QUARANTINE_PK, millis

EventStatus = Literal["pending", "delivered", "quarantined"]
PENDING: Literal["pending"] = "pending"
DELIVERED: Literal["delivered"] = "delivered"
QUARANTINED: Literal["quarantined"] = "quarantined"
_STATUSES: dict[str, EventStatus] = {
    PENDING: PENDING,
    DELIVERED: DELIVERED,
    QUARANTINED: QUARANTINED,
}


def effective_status(item: Mapping[str, Any], now: float) -> EventStatus:
    """An item on its last lease (filed in the quarantine) is quarantined from the
    moment that lease expires, before the next lease call moves it."""
    status = _STATUSES[str(item[layout.STATUS])]
    if status == PENDING and last_lease_expired(item, now):
        return QUARANTINED
    return status


def last_lease_expired(item: Mapping[str, Any], now: float) -> bool:
    return QUARANTINE_PK in item and int(item.get(LEASE_EXPIRES_MS, 0)) <= millis(now)


def leased_until(item: Mapping[str, Any], now: float) -> str | None:
    """When the item's live lease ends, or None when no lease holds it."""
    expires = item.get(LEASE_EXPIRES_MS)
    if item.get(layout.STATUS) != PENDING or expires is None or int(expires) <= millis(now):
        return None
    return str(item[layout.LEASED_UNTIL])


def held_now(item: Mapping[str, Any], now_ms: int) -> bool:
    return item.get(layout.STATUS) == PENDING and int(item.get(LEASE_EXPIRES_MS, 0)) > now_ms
