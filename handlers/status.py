"""Function `status`: GET /status (no auth)."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.config import settings
from common.http import Request, json_response


def get_status(request: Request) -> Response:
    return json_response(200, {"status": "ok", "version": settings().version})


ROUTES: dict[str, Route] = {
    "GET /status": Route(get_status, auth="none"),
}

handler = http_handler("status", ROUTES)
