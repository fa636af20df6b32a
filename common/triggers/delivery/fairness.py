"""Fair delivery: concurrency slots per tenant and per subscription, the
per-subscription pace, and the one-replay-at-a-time lock (docs/capacity.md,
"Fair delivery").

A worker sends only while it holds a slot of the tenant AND a slot of the
subscription.  A message whose tenant or subscription is at its share does not wait
in the worker: it is parked (parking.py) and woken by its own tenant's next
finished send, so a tenant's hanging receivers hold at most its tenant share of the
workers, and one subscription at most its subscription share of the tenant's.

Slots (hooks table, pk `T#<tenant>#FAIR`, one partition per tenant):
* sk `tenant`, `sub#<id>`: `holders`, a string set of `<lease>@<expiry epoch>`.
  Taking a slot is one transaction of two conditional ADDs (`size(holders) < cap`);
  giving it back DELETEs the entry.  A worker that died holding one leaves an entry
  whose expiry passes; the next refusal purges expired entries and tries again.
* sk `pace#<id>`: `tat_ms`, the theoretical arrival time of a rate-limited
  subscription (GCRA without burst): a delivery takes the slot at max(tat, now), the
  next is one interval later; a delivery whose slot is in the future is delayed to it.
* sk `replay#<id>`: the running replay's id and expiry (refreshed by every page).
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.runtime.config import settings
from common.runtime.observability import logger
from common.store import ddb, dynamo, transact
from common.store.tables import PK, SK
from common.triggers import outbound

# A slot outlives the longest send (15 s) by a margin: a holder that crashed stops
# counting after this long.
HOLD_SECONDS = int(outbound.TOTAL_TIMEOUT_SECONDS) + 15
REPLAY_LOCK_SECONDS = 900


def fair_pk(tenant: str) -> str:
    return f"T#{tenant}#FAIR"


def _key(tenant: str, sk: str) -> dict[str, str]:
    return {PK: fair_pk(tenant), SK: sk}


def tenant_key(tenant: str) -> dict[str, str]:
    return _key(tenant, "tenant")


def subscription_key(tenant: str, subscription_id: str) -> dict[str, str]:
    return _key(tenant, f"sub#{subscription_id}")


def pace_key(tenant: str, subscription_id: str) -> dict[str, str]:
    return _key(tenant, f"pace#{subscription_id}")


def replay_key(tenant: str, subscription_id: str) -> dict[str, str]:
    return _key(tenant, f"replay#{subscription_id}")


# ---------------------------------------------------------------- concurrency slots


@dataclass(frozen=True)
class Lease:
    tenant: str
    subscription_id: str
    entry: str


@dataclass(frozen=True)
class Refused:
    """No slot: the subscription's own share is full (else the tenant's)."""

    subscription_full: bool


def _take(key: Mapping[str, str], entry: str, cap: int) -> dict[str, Any]:
    return dynamo.update_op(
        settings().hooks_table,
        key,
        "ADD holders :entry",
        condition="attribute_not_exists(holders) OR size(holders) < :cap",
        values={":entry": {entry}, ":cap": cap},
        return_old_on_failure=True,  # the holders, to purge dead ones without a read
    )


def acquire(tenant: str, subscription_id: str, now: float) -> Lease | Refused:
    """A slot of the tenant and of the subscription, or why not (after purging the
    entries of holders that died)."""
    entry = f"{secrets.token_hex(8)}@{int(now) + HOLD_SECONDS}"
    keys = {"tenant": tenant_key(tenant), "subscription": subscription_key(tenant, subscription_id)}
    caps = {
        "tenant": settings().delivery_tenant_slots,
        "subscription": settings().delivery_subscription_slots,
    }
    refused = Refused(subscription_full=False)
    for attempt in range(2):
        reasons = transact.run([_take(keys[name], entry, caps[name]) for name in keys])
        if reasons is None:
            return Lease(tenant, subscription_id, entry)
        why = dict(zip(keys, reasons, strict=True))
        refused = Refused(subscription_full=transact.failed_condition(why["subscription"]))
        expired = [
            (keys[name], _expired(reason, now))
            for name, reason in why.items()
            if transact.failed_condition(reason)
        ]
        if attempt or not expired or not all(dead for _, dead in expired):
            return refused  # full of live holders: no second try
        for key, dead in expired:
            dynamo.update(
                settings().hooks_table, key, "DELETE holders :gone", values={":gone": dead}
            )
    return refused


def _expired(reason: Mapping[str, Any], now: float) -> set[str]:
    """Entries of holders past their expiry in a refused slot item."""
    item = ddb.deserialize(reason.get("Item") or {})
    return {e for e in item.get("holders") or set() if int(str(e).rsplit("@", 1)[1]) < now}


def release(lease: Lease) -> None:
    """Give the slots back; best effort (a slot not given back expires)."""
    for key in (tenant_key(lease.tenant), subscription_key(lease.tenant, lease.subscription_id)):
        try:
            dynamo.update(
                settings().hooks_table,
                key,
                "DELETE holders :entry",
                values={":entry": {lease.entry}},
            )
        except Exception:
            logger.warning("delivery slot not released; it expires", exc_info=True)


# ---------------------------------------------------------------- pace (rate limit)


def reserve(tenant: str, subscription_id: str, per_second: float, now: float) -> float:
    """Take the subscription's next sending time; seconds to wait until it (0: now)."""
    interval = max(1, math.ceil(1000 / per_second))
    now_ms = int(now * 1000)
    key = pace_key(tenant, subscription_id)
    try:
        dynamo.update(
            settings().hooks_table,
            key,
            "SET tat_ms = :next",
            condition="attribute_not_exists(tat_ms) OR tat_ms <= :now",
            values={":now": now_ms, ":next": now_ms + interval},
        )
        return 0.0
    except dynamo.ConditionFailed:
        pass
    updated = dynamo.update(
        settings().hooks_table,
        key,
        "SET tat_ms = tat_ms + :i",
        values={":i": interval},
        returns="UPDATED_NEW",
    )
    return max(0.0, (int(updated["tat_ms"]) - interval - now_ms) / 1000)


def reset_pace(tenant: str, subscription_id: str) -> None:
    """Forget the reserved moments (on enable, or when the rate limit changes): the
    deliveries holding them keep theirs, new ones start from now."""
    dynamo.delete(settings().hooks_table, pace_key(tenant, subscription_id))


# ---------------------------------------------------------------- replays


def lock_replay(tenant: str, subscription_id: str, replay_id: str, now: float) -> bool:
    """Take the subscription's replay lock; False while another replay holds it."""
    try:
        dynamo.put(
            settings().hooks_table,
            {
                **replay_key(tenant, subscription_id),
                "replay_id": replay_id,
                "lock_until": int(now) + REPLAY_LOCK_SECONDS,
            },
            condition="attribute_not_exists(#pk) OR lock_until < :now",
            names={"#pk": PK},
            values={":now": int(now)},
        )
    except dynamo.ConditionFailed:
        return False
    return True


def hold_replay(tenant: str, subscription_id: str, replay_id: str, now: float) -> bool:
    """Extend the lock for one more page; False when this replay no longer holds it."""
    try:
        dynamo.update(
            settings().hooks_table,
            replay_key(tenant, subscription_id),
            "SET lock_until = :until",
            condition="replay_id = :id",
            values={":id": replay_id, ":until": int(now) + REPLAY_LOCK_SECONDS},
        )
    except dynamo.ConditionFailed:
        return False
    return True


def unlock_replay(tenant: str, subscription_id: str, replay_id: str) -> None:
    # ConditionFailed: taken over after it expired; the new holder removes it.
    with contextlib.suppress(dynamo.ConditionFailed):
        dynamo.delete(
            settings().hooks_table,
            replay_key(tenant, subscription_id),
            condition="replay_id = :id",
            values={":id": replay_id},
        )
