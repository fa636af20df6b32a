"""Changing a subscription: PATCH (url, filters, description, headers, rate limit; the
secret never changes here), pause, and enable (resume or re-enable, with recovery).

Item attributes the delivery worker reads at send time: `status` (active, paused,
disabled), `paused_at` (RFC 3339), `headers` (map, absent when none),
`rate_limit_per_second` (number, absent when none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import NotFound
from common.runtime.observability import logger
from common.store import dynamo
from common.store.tables import PK, SK
from common.triggers import recovery
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs
from common.triggers.delivery import fairness

ENABLE_ATTEMPTS = 5  # optimistic retries when another change lands between read and write
RECOVERY_LAG_SECONDS = 60  # stream and queue lag an event received before a pause may have
# PATCH field → item attribute
_COLUMNS = {
    "url": "url",
    "event_types": "event_types_json",
    "description": "description",
    "headers": "headers",
    "rate_limit_per_second": "rate_limit_per_second",
}


def change(
    tenant: str, subscription_id: str, body: inputs.SubscriptionChange
) -> subs.SubscriptionView:
    """PATCH: the given fields only (`null` clears an optional one; `{}` changes nothing)."""
    given = body.model_fields_set
    if not given:
        return subs.get(tenant, subscription_id).public()
    if "url" in given:
        subs.get(tenant, subscription_id)  # 404 before the SSRF verdict on a foreign id
        subs.check_url(str(body.url))
    stored: dict[str, Any] = {
        "url": body.url,
        "event_types": None if body.event_types is None else json.dumps(body.event_types),
        "description": body.description,
        "headers": body.headers or None,  # {} and null: none
        "rate_limit_per_second": body.rate_limit_per_second,
    }
    sets = {_COLUMNS[f]: stored[f] for f in sorted(given) if stored[f] is not None}
    removes = [_COLUMNS[f] for f in sorted(given) if stored[f] is None]
    names = {f"#f{i}": column for i, column in enumerate([*sets, *removes])}
    alias = {column: name for name, column in names.items()}
    values = {f":v{i}": value for i, value in enumerate(sets.values())}
    expression = ""
    if sets:
        expression = "SET " + ", ".join(f"{alias[c]} = :v{i}" for i, c in enumerate(sets))
    if removes:
        expression += " REMOVE " + ", ".join(alias[c] for c in removes)
    updated = subs.update_existing(tenant, subscription_id, expression.strip(), names, values)
    if "rate_limit_per_second" in given:
        # Moments reserved at the old pace would hold new deliveries back: start afresh.
        fairness.reset_pace(tenant, subscription_id)
    return subs.Subscription(updated).public()


def pause(tenant: str, subscription_id: str) -> subs.SubscriptionView:
    """Nothing is sent while paused.  Pausing again keeps the first `paused_at` (the
    recovery window starts there); a disabled subscription keeps its `disabled_at`."""
    updated = subs.update_existing(
        tenant,
        subscription_id,
        "SET #status = :paused, paused_at = if_not_exists(paused_at, :now)",
        {"#status": "status"},
        {":paused": subs.PAUSED, ":now": clock.iso(clock.now())},
    )
    return subs.Subscription(updated).public()


def enable(tenant: str, subscription_id: str, recover: bool = True) -> subs.SubscriptionView:
    """Active again; with `recover`, the events that matched while paused or disabled
    are sent (see recovery.py for why a crash after this write loses nothing)."""
    for _ in range(ENABLE_ATTEMPTS):
        current = subs.get(tenant, subscription_id)
        try:
            updated = _flip(current.item, recover)
        except dynamo.ConditionFailed:
            continue  # changed between the read and the write: read again
        fairness.reset_pace(tenant, subscription_id)  # no wait carried over from before
        if updated.get("recovery_id"):
            # Written just now: start it.  Pending from an enable that died (or whose
            # queue refused): an explicit enable takes it over at once, claimed first so
            # a concurrent sweep does not start it too.
            fresh = updated.get("recovery_id") != current.item.get("recovery_id")
            _start_now(updated if fresh else recovery.claim(updated, clock.now()))
        return subs.Subscription(updated).public()
    raise NotFound("No such subscription.")  # only when it keeps vanishing and reappearing


def _flip(item: Mapping[str, Any], recover: bool) -> dict[str, Any]:
    """One conditional update: active, failure record reset after a disable, and the
    recovery window recorded with it (or nothing, when already active)."""
    status = str(item["status"])
    now = clock.now()
    names = {"#pk": PK, "#status": "status"}
    values: dict[str, Any] = {":active": subs.ACTIVE, ":old": status}
    sets = ["#status = :active"]
    removes = ["paused_at", "disabled_at"]
    if status == subs.DISABLED:
        sets.append("consecutive_failures = :zero")
        removes.append("failing_since")
        values[":zero"] = 0
    since = _window_start(item) if recover and status != subs.ACTIVE else None
    if since is not None:
        window = recovery.window_attributes(
            since, clock.iso(now), now, str(item["tenant"]), str(item["subscription_id"])
        )
        for i, (name, value) in enumerate(window.items()):
            names[f"#r{i}"] = name
            values[f":r{i}"] = value
            sets.append(f"#r{i} = :r{i}")
    condition = "attribute_exists(#pk) AND #status = :old"
    if item.get("recovery_id") is not None:
        condition += " AND recovery_id = :seen"
        values[":seen"] = item["recovery_id"]
    else:
        condition += " AND attribute_not_exists(recovery_id)"
    return dynamo.update(
        settings().hooks_table,
        {PK: item[PK], SK: item[SK]},
        f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
        condition=condition,
        names=names,
        values=values,
        returns="ALL_NEW",
    )


def _window_start(item: Mapping[str, Any]) -> str | None:
    """The earliest of: a recovery still pending, the pause, the disable (or, for a
    disable written without its time, the start of the failure streak)."""
    candidates = [item.get("recovery_since"), item.get("paused_at"), item.get("disabled_at")]
    if item.get("status") == subs.DISABLED and not item.get("disabled_at"):
        failing = subs.Subscription(item).failing_since
        candidates.append(clock.iso(failing) if failing is not None else None)
    present = [str(value) for value in candidates if value]
    if not present:
        return None
    # Events received up to RECOVERY_LAG_SECONDS before the stop may reach the worker
    # after it (stream and queue lag) and be dropped: the window covers them, and the
    # recovery skips what was delivered live (delivery/replay.py).  Never before the
    # subscription existed: what came earlier was never its to miss.
    start = clock.parse_iso(min(present)).timestamp() - RECOVERY_LAG_SECONDS
    if item.get("created_at"):
        start = max(start, clock.parse_iso(str(item["created_at"])).timestamp())
    return clock.iso(start)


def _start_now(item: Mapping[str, Any] | None) -> None:
    """The enabling request starts its own recovery; any failure leaves the recorded
    window for the `retry` function's sweep, so the answer stays 200."""
    if item is None:
        return  # claimed by a sweep meanwhile
    try:
        recovery.start(item)
    except Exception:
        logger.warning("recovery not started now; the sweep will start it", exc_info=True)
