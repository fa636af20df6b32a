"""Function `events`: POST /events, GET /events/{event_id}, DELETE /events/{event_id}."""

from __future__ import annotations

from common.api import Response, RouteTable, http_handler
from common.runtime.errors import field_error
from common.runtime.http import Request, empty_response, json_response
from common.runtime.routedoc import Extras, Param
from common.triggers import dedup, events
from common.triggers.inbox import ack, place

routes = RouteTable()
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "minLength": 1}, where="header")


@routes.post(
    "/events",
    auth="creator",
    ok={201: events.EventCreatedView, 200: events.EventCreatedView},
    errors=(409,),
    doc=Extras(params=(IDEMPOTENCY_KEY,)),
)
def post_event(request: Request, body: events.NewEvent) -> Response:
    """Push an event (duplicates within 5 minutes answer 200 with the original id)"""
    idempotency_key = request.header("idempotency-key")
    if idempotency_key is not None and not dedup.valid_idempotency_key(idempotency_key):
        raise field_error("Idempotency-Key", "must be 1 to 255 characters")
    outcome = events.create_event(request.tenant, body, idempotency_key)
    return json_response(_status_of(outcome), outcome.body)


# A new event is 201; a content duplicate answers 200 with the original; a replay
# answers with the status of the answer it replays.
_STATUS = {events.CREATED: 201, events.DUPLICATE: 200}


def _status_of(outcome: events.Outcome) -> int:
    kind = outcome.replayed if outcome.kind == events.REPLAY else outcome.kind
    return _STATUS[str(kind)]


@routes.get("/events/{event_id}", ok={200: events.EventView})
def get_event(request: Request) -> Response:
    """One event"""
    return json_response(200, events.get_event(request.tenant, request.path_param("event_id")))


@routes.delete("/events/{event_id}", auth="creator", ok={204: None})
def delete_event(request: Request) -> Response:
    """Acknowledge delivery (idempotent)"""
    ack.acknowledge(place.inbox(request.tenant), request.path_param("event_id"))
    return empty_response(204)


ROUTES = routes.table
handler = http_handler("events", ROUTES)
