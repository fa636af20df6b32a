"""Consuming a queue: GET /inbox, POST /inbox/lease|ack|release|extend, the quarantine."""

from __future__ import annotations

from common.api import Response, RouteTable
from common.runtime.errors import field_error
from common.runtime.http import Request, json_response, page
from common.runtime.routedoc import Page
from common.triggers import queues
from common.triggers.inbox import ack as acks
from common.triggers.inbox import extend as extends
from common.triggers.inbox import lease as leases
from common.triggers.inbox import listing, quarantine
from common.triggers.inbox import release as releases

routes = RouteTable()


@routes.get("/inbox", ok={200: Page(listing.InboxItemView)}, errors=(404,))
def get_inbox(request: Request, query: listing.InboxQuery) -> Response:
    """Pending events of a queue (leased or not), oldest first

    `queue` defaults to `inbox` (the tenant inbox); an unknown queue is 404.
    """
    place = queues.place_of(request.tenant, query.queue)
    items, next_cursor = listing.inbox_page(place, query.limit, query.cursor, query.event_type)
    return json_response(200, page(items, next_cursor))


@routes.post("/inbox/lease", auth="creator", ok={200: leases.LeaseView}, errors=(404,))
def lease(request: Request, body: leases.LeaseRequest) -> Response:
    """Lease the oldest available events (exactly one holder at a time)

    `{}` takes the defaults. An empty `items` list is a lease that holds nothing.
    """
    place = queues.place_of(request.tenant, body.queue)
    return json_response(200, leases.lease(place, body.limit, body.lease_seconds, body.event_type))


@routes.post("/inbox/ack", auth="creator", ok={200: acks.AckResultView}, errors=(404,))
def ack(request: Request, body: acks.AckRequest) -> Response:
    """Acknowledge up to 100 events, or the events of a lease

    `event_ids`, or `lease_id` with optional `event_ids` (default: all of the lease). 404
    for an unknown lease id.
    """
    if body.lease_id is None and body.event_ids is None:
        raise field_error("event_ids", "Field required (or give a lease_id)")
    place = queues.place_of(request.tenant, body.queue)
    if body.lease_id is not None:
        outcome = acks.acknowledge_lease(place, body.lease_id, body.event_ids)
    else:
        outcome = acks.acknowledge_many(place, body.event_ids or [])
    return json_response(200, outcome)


@routes.post("/inbox/release", auth="creator", ok={200: releases.ReleaseResultView}, errors=(404,))
def release(request: Request, body: releases.ReleaseRequest) -> Response:
    """Give leased events back, available again after `delay_seconds`"""
    place = queues.place_of(request.tenant, body.queue)
    outcome = releases.release(place, body.lease_id, body.event_ids, body.delay_seconds)
    return json_response(200, outcome)


@routes.post("/inbox/extend", auth="creator", ok={200: extends.ExtendResultView}, errors=(404,))
def extend(request: Request, body: extends.ExtendRequest) -> Response:
    """Hold a lease's events `lease_seconds` from now (ChangeMessageVisibility)

    `event_ids` default to all of the lease; events another lease took since are
    `lease_lost`.
    """
    place = queues.place_of(request.tenant, body.queue)
    outcome = extends.extend(place, body.lease_id, body.lease_seconds, body.event_ids)
    return json_response(200, outcome)


@routes.get("/inbox/quarantine", ok={200: Page(quarantine.QuarantinedItemView)}, errors=(404,))
def get_quarantine(request: Request, query: quarantine.QuarantineQuery) -> Response:
    """Events leased max_attempts times and not acknowledged, oldest quarantine first"""
    place = queues.place_of(request.tenant, query.queue)
    items, next_cursor = quarantine.quarantine_page(place, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


@routes.post(
    "/inbox/quarantine/requeue",
    auth="creator",
    ok={200: quarantine.RequeueResultView},
    errors=(404,),
)
def requeue(request: Request, body: quarantine.RequeueRequest) -> Response:
    """Make quarantined events pending again with attempts 0"""
    place = queues.place_of(request.tenant, body.queue)
    return json_response(200, quarantine.requeue(place, body.event_ids))
