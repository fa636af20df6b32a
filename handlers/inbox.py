"""Function `inbox`: GET /inbox, leases (POST /inbox/lease, /inbox/ack, /inbox/release)
and the quarantine (GET /inbox/quarantine, POST /inbox/quarantine/requeue)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from common.api import Response, Route, http_handler
from common.runtime.errors import field_error
from common.runtime.http import Request, json_response, page, parse_limit
from common.triggers import events, inbox


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: str | None = None  # checked by parse_limit, the shared rule
    cursor: Annotated[StrictStr, Field(min_length=1, max_length=4096)] | None = None
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class QuarantineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: str | None = None
    cursor: Annotated[StrictStr, Field(min_length=1, max_length=4096)] | None = None


def get_inbox(request: Request) -> Response:
    query = request.query_model(InboxQuery)
    limit = parse_limit(request.query)
    items, next_cursor = events.inbox_page(request.tenant, limit, query.cursor, query.event_type)
    return json_response(200, page(items, next_cursor))


def lease(request: Request) -> Response:
    # An empty body takes every default: `curl -X POST .../inbox/lease` just works.
    body = request.json_model(inbox.LeaseRequest) if request.body.strip() else inbox.LeaseRequest()
    held = inbox.lease(request.tenant, body.limit, body.lease_seconds, body.event_type)
    return json_response(
        200, {"lease_id": held.lease_id, "expires_at": held.expires_at, "items": held.items}
    )


def ack(request: Request) -> Response:
    body = request.json_model(inbox.AckRequest)
    if body.lease_id is not None:
        outcome = inbox.acknowledge_lease(request.tenant, body.lease_id, body.event_ids)
    elif body.event_ids is not None:
        outcome = inbox.acknowledge_many(request.tenant, body.event_ids)
    else:
        raise field_error("event_ids", "Field required (or give a lease_id)")
    return json_response(
        200,
        {
            "acknowledged": outcome.acknowledged,
            "lease_lost": outcome.lease_lost,
            "not_found": outcome.not_found,
        },
    )


def release(request: Request) -> Response:
    body = request.json_model(inbox.ReleaseRequest)
    released, not_found = inbox.release(
        request.tenant, body.lease_id, body.event_ids, body.delay_seconds
    )
    return json_response(200, {"released": released, "not_found": not_found})


def get_quarantine(request: Request) -> Response:
    query = request.query_model(QuarantineQuery)
    limit = parse_limit(request.query)
    items, next_cursor = inbox.quarantine_page(request.tenant, limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def requeue(request: Request) -> Response:
    body = request.json_model(inbox.RequeueRequest)
    requeued, not_found = inbox.requeue(request.tenant, body.event_ids)
    return json_response(200, {"requeued": requeued, "not_found": not_found})


ROUTES: dict[str, Route] = {
    "GET /inbox": Route(get_inbox, auth="viewer"),
    "POST /inbox/lease": Route(lease, auth="creator"),
    "POST /inbox/ack": Route(ack, auth="creator"),
    "POST /inbox/release": Route(release, auth="creator"),
    "GET /inbox/quarantine": Route(get_quarantine, auth="viewer"),
    "POST /inbox/quarantine/requeue": Route(requeue, auth="creator"),
}

handler = http_handler("inbox", ROUTES)
