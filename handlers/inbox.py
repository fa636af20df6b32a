"""Function `inbox`: consuming a queue (GET /inbox, POST /inbox/lease|ack|release|extend,
the quarantine) and the named queues themselves (/queues).  Every inbox route takes
`queue` (default `inbox`, the tenant inbox); an unknown queue is 404."""

from __future__ import annotations

from common.api import Response, RouteTable, http_handler
from common.runtime.http import Request, empty_response, json_response, page
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
    return json_response(200, acks.acknowledge_request(request.tenant, body))


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


@routes.post(
    "/queues",
    auth="creator",
    ok={201: queues.QueueView},
    errors=(409,),
    description="409 for a name in use, for `inbox` (the tenant inbox), and beyond "
    f"{queues.MAX_QUEUES} named queues per tenant.",
)
def create_queue(request: Request, body: queues.NewQueue) -> Response:
    """Add a named queue: its own copy of every matching event created from now on"""
    return json_response(201, queues.create(request.tenant, body))


@routes.get("/queues", ok={200: Page(queues.QueueView)})
def list_queues(request: Request, query: queues.QueuesQuery) -> Response:
    """The tenant's queues, `inbox` first"""
    items, next_cursor = queues.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


@routes.get("/queues/{name}", ok={200: queues.QueueDetailView})
def get_queue(request: Request) -> Response:
    """One queue with its backlog"""
    return json_response(200, queues.detail(request.tenant, request.path_param("name")))


@routes.delete("/queues/{name}", auth="creator", ok={204: None}, errors=(409,))
def delete_queue(request: Request) -> Response:
    """Delete a named queue and its entries

    The tenant inbox cannot be deleted (409).
    """
    queues.delete(request.tenant, request.path_param("name"))
    return empty_response(204)


ROUTES = routes.table
handler = http_handler("inbox", ROUTES)
