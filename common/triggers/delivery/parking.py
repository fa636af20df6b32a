"""Parking: where a delivery waits while its tenant or subscription is at its share
of the workers (fairness.py), so that waiting costs the shared queue nothing.

A refused message is not put back on the shared queue to be polled again (under a
sustained overload that backlog would grow and every worker would keep skipping
it); it is parked in its tenant's partition, oldest first, and woken by its own
tenant: every send that gives its slots back wakes the tenant's oldest parked
message (sends it to the queue again).  So the work a parked backlog causes is one
wake per send of that tenant, never a function of the backlog's size.

Two lines per tenant: a delivery refused because its *subscription* is at its share
waits in that subscription's own line, woken by that subscription's next finished
send; one refused because the *tenant* is at its share waits in the tenant's line,
woken by any of the tenant's sends.  A finished send wakes its subscription's line
first, then the tenant's: a slow subscription's backlog never stands in front of
its tenant's other subscriptions.

Exactly one copy goes on: a parked item is claimed by a conditional delete, and two
paths may try — the wake, and a backstop copy of the message sent with the longest
delay SQS holds (15 min; it covers a wake that never comes, e.g. a worker that died
holding the slot).  The parker itself checks once more after parking, so a slot
given back between its refusal and its park is not missed.

Items (hooks table): pk `T#<tenant>#FAIR`, sk `park#S#<subscription id>#<ULID>` or
`park#T#<ULID>`, the message body.
"""

from __future__ import annotations

import dataclasses

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.observability import logger
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers.delivery import fairness, messages
from common.triggers.delivery.messages import SQS_MAX_DELAY_SECONDS, Delivery

PARK_PREFIX = "park#"
KEEP_SECONDS = 4 * 86_400  # the delivery queue's retention


def _line(subscription_id: str | None) -> str:
    return f"{PARK_PREFIX}S#{subscription_id}#" if subscription_id else f"{PARK_PREFIX}T#"


def park(delivery: Delivery, *, own_line: bool) -> str:
    """Park `delivery` (and send its backstop copy) in its subscription's own line or
    its tenant's; the parked item's sort key."""
    sk = _line(delivery.subscription_id if own_line else None) + ids.new_id()
    dynamo.put(
        settings().hooks_table,
        {
            PK: fairness.fair_pk(delivery.tenant),
            SK: sk,
            "body": delivery.body(),
            TTL_ATTRIBUTE: int(clock.now()) + KEEP_SECONDS,
        },
    )
    backstop = dataclasses.replace(delivery, parked=sk)
    messages.send([(backstop.body(), SQS_MAX_DELAY_SECONDS)])
    return sk


def claim(tenant: str, sk: str) -> bool:
    """Take a parked item (True once, for whichever path comes first)."""
    try:
        dynamo.delete(
            settings().hooks_table,
            {PK: fairness.fair_pk(tenant), SK: sk},
            condition="attribute_exists(#pk)",
            names={"#pk": PK},
        )
    except dynamo.ConditionFailed:
        return False
    return True


def wake(tenant: str, subscription_id: str) -> bool:
    """Send the oldest parked delivery of the subscription's line, else of the
    tenant's, to the queue again; best effort (the backstop copy covers a wake that
    fails).  True when one was woken."""
    try:
        return any(_wake_one(tenant, line) for line in (_line(subscription_id), _line(None)))
    except Exception:
        logger.warning("parked delivery not woken; its backstop copy will", exc_info=True)
    return False


def _wake_one(tenant: str, line: str) -> bool:
    page = dynamo.query_partition(
        settings().hooks_table,
        tenant,
        fairness.fair_pk(tenant),
        sort=dynamo.SortKey.begins_with(line),
        limit=1,
        consistent=True,
    )
    for item in page.items:
        if claim(tenant, str(item[SK])):
            messages.send([(str(item["body"]), 0)])
            return True
    return False


def release_and_wake(lease: fairness.Lease) -> None:
    fairness.release(lease)
    wake(lease.tenant, lease.subscription_id)
