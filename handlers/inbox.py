"""Function `inbox`: GET /inbox, POST /inbox/ack."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from common.api import Response, Route, http_handler
from common.runtime.http import Request, json_response, page, parse_limit
from common.triggers import events


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: str | None = None  # checked by parse_limit, the shared rule
    cursor: Annotated[StrictStr, Field(min_length=1, max_length=4096)] | None = None
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


def get_inbox(request: Request) -> Response:
    query = request.query_model(InboxQuery)
    limit = parse_limit(request.query)
    items, next_cursor = events.inbox_page(request.tenant, limit, query.cursor, query.event_type)
    return json_response(200, page(items, next_cursor))


def ack(request: Request) -> Response:
    body = request.json_model(events.AckRequest)
    acknowledged, not_found = events.acknowledge_many(request.tenant, body.event_ids)
    return json_response(200, {"acknowledged": acknowledged, "not_found": not_found})


ROUTES: dict[str, Route] = {
    "GET /inbox": Route(get_inbox, auth="viewer"),
    "POST /inbox/ack": Route(ack, auth="creator"),
}

handler = http_handler("inbox", ROUTES)
