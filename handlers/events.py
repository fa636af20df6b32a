"""Function `events`: POST /events, GET /events/{event_id}, DELETE /events/{event_id}."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.runtime.errors import field_error
from common.runtime.http import Request, empty_response, json_response
from common.triggers import dedup, events
from common.triggers.inbox import ack, place


def post_event(request: Request) -> Response:
    new = request.json_model(events.NewEvent)
    idempotency_key = request.header("idempotency-key")
    if idempotency_key is not None and not dedup.valid_idempotency_key(idempotency_key):
        raise field_error("Idempotency-Key", "must be 1 to 255 characters")
    outcome = events.create_event(request.tenant, new, idempotency_key)
    return json_response(_status_of(outcome), outcome.body)


# A new event is 201; a content duplicate answers 200 with the original; a replay
# answers with the status of the answer it replays.
_STATUS = {events.CREATED: 201, events.DUPLICATE: 200}


def _status_of(outcome: events.Outcome) -> int:
    kind = outcome.replayed if outcome.kind == events.REPLAY else outcome.kind
    return _STATUS[str(kind)]


def get_event(request: Request) -> Response:
    return json_response(200, events.get_event(request.tenant, request.path_param("event_id")))


def delete_event(request: Request) -> Response:
    ack.acknowledge(place.inbox(request.tenant), request.path_param("event_id"))
    return empty_response(204)


ROUTES: dict[str, Route] = {
    "POST /events": Route(post_event, auth="creator"),
    "GET /events/{event_id}": Route(get_event, auth="viewer"),
    "DELETE /events/{event_id}": Route(delete_event, auth="creator"),
}

handler = http_handler("events", ROUTES)
