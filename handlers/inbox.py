"""Function `inbox`: GET /inbox, leases (POST /inbox/lease, /inbox/ack, /inbox/release)
and the quarantine (GET /inbox/quarantine, POST /inbox/quarantine/requeue)."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.runtime.errors import field_error
from common.runtime.http import Request, json_response, page
from common.triggers import events, inbox


def get_inbox(request: Request) -> Response:
    query = request.query_model(events.InboxQuery)
    items, next_cursor = events.inbox_page(
        request.tenant, query.limit, query.cursor, query.event_type
    )
    return json_response(200, page(items, next_cursor))


def lease(request: Request) -> Response:
    body = request.json_model(inbox.LeaseRequest)
    held = inbox.lease(request.tenant, body.limit, body.lease_seconds, body.event_type)
    return json_response(200, held)


def ack(request: Request) -> Response:
    body = request.json_model(inbox.AckRequest)
    if body.lease_id is not None:
        outcome = inbox.acknowledge_lease(request.tenant, body.lease_id, body.event_ids)
    elif body.event_ids is not None:
        outcome = inbox.acknowledge_many(request.tenant, body.event_ids)
    else:
        raise field_error("event_ids", "Field required (or give a lease_id)")
    return json_response(200, outcome)


def release(request: Request) -> Response:
    body = request.json_model(inbox.ReleaseRequest)
    released = inbox.release(request.tenant, body.lease_id, body.event_ids, body.delay_seconds)
    return json_response(200, released)


def get_quarantine(request: Request) -> Response:
    query = request.query_model(inbox.QuarantineQuery)
    items, next_cursor = inbox.quarantine_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def requeue(request: Request) -> Response:
    body = request.json_model(inbox.RequeueRequest)
    return json_response(200, inbox.requeue(request.tenant, body.event_ids))


ROUTES: dict[str, Route] = {
    "GET /inbox": Route(get_inbox, auth="viewer"),
    "POST /inbox/lease": Route(lease, auth="creator"),
    "POST /inbox/ack": Route(ack, auth="creator"),
    "POST /inbox/release": Route(release, auth="creator"),
    "GET /inbox/quarantine": Route(get_quarantine, auth="viewer"),
    "POST /inbox/quarantine/requeue": Route(requeue, auth="creator"),
}

handler = http_handler("inbox", ROUTES)
