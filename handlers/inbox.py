"""Function `inbox`: consuming a queue (GET /inbox, POST /inbox/lease|ack|release|extend,
the quarantine) and the named queues themselves (/queues).  Every inbox route takes
`queue` (default `inbox`, the tenant inbox); an unknown queue is 404."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.runtime.errors import field_error
from common.runtime.http import Request, empty_response, json_response, page
from common.triggers import queues
from common.triggers.inbox import ack as acks
from common.triggers.inbox import extend as extends
from common.triggers.inbox import lease as leases
from common.triggers.inbox import listing, quarantine
from common.triggers.inbox import release as releases


def get_inbox(request: Request) -> Response:
    query = request.query_model(listing.InboxQuery)
    place = queues.place_of(request.tenant, query.queue)
    items, next_cursor = listing.inbox_page(place, query.limit, query.cursor, query.event_type)
    return json_response(200, page(items, next_cursor))


def lease(request: Request) -> Response:
    body = request.json_model(leases.LeaseRequest)
    place = queues.place_of(request.tenant, body.queue)
    return json_response(200, leases.lease(place, body.limit, body.lease_seconds, body.event_type))


def ack(request: Request) -> Response:
    body = request.json_model(acks.AckRequest)
    if body.lease_id is None and body.event_ids is None:
        raise field_error("event_ids", "Field required (or give a lease_id)")
    place = queues.place_of(request.tenant, body.queue)
    if body.lease_id is not None:
        outcome = acks.acknowledge_lease(place, body.lease_id, body.event_ids)
    else:
        outcome = acks.acknowledge_many(place, body.event_ids or [])
    return json_response(200, outcome)


def release(request: Request) -> Response:
    body = request.json_model(releases.ReleaseRequest)
    place = queues.place_of(request.tenant, body.queue)
    outcome = releases.release(place, body.lease_id, body.event_ids, body.delay_seconds)
    return json_response(200, outcome)


def extend(request: Request) -> Response:
    body = request.json_model(extends.ExtendRequest)
    place = queues.place_of(request.tenant, body.queue)
    outcome = extends.extend(place, body.lease_id, body.lease_seconds, body.event_ids)
    return json_response(200, outcome)


def get_quarantine(request: Request) -> Response:
    query = request.query_model(quarantine.QuarantineQuery)
    place = queues.place_of(request.tenant, query.queue)
    items, next_cursor = quarantine.quarantine_page(place, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def requeue(request: Request) -> Response:
    body = request.json_model(quarantine.RequeueRequest)
    place = queues.place_of(request.tenant, body.queue)
    return json_response(200, quarantine.requeue(place, body.event_ids))


def create_queue(request: Request) -> Response:
    return json_response(201, queues.create(request.tenant, request.json_model(queues.NewQueue)))


def list_queues(request: Request) -> Response:
    query = request.query_model(queues.QueuesQuery)
    items, next_cursor = queues.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def get_queue(request: Request) -> Response:
    return json_response(200, queues.detail(request.tenant, request.path_param("name")))


def delete_queue(request: Request) -> Response:
    queues.delete(request.tenant, request.path_param("name"))
    return empty_response(204)


ROUTES: dict[str, Route] = {
    "GET /inbox": Route(get_inbox, auth="viewer"),
    "POST /inbox/lease": Route(lease, auth="creator"),
    "POST /inbox/ack": Route(ack, auth="creator"),
    "POST /inbox/release": Route(release, auth="creator"),
    "POST /inbox/extend": Route(extend, auth="creator"),
    "GET /inbox/quarantine": Route(get_quarantine, auth="viewer"),
    "POST /inbox/quarantine/requeue": Route(requeue, auth="creator"),
    "POST /queues": Route(create_queue, auth="creator"),
    "GET /queues": Route(list_queues, auth="viewer"),
    "GET /queues/{name}": Route(get_queue, auth="viewer"),
    "DELETE /queues/{name}": Route(delete_queue, auth="creator"),
}

handler = http_handler("inbox", ROUTES)
