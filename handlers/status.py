"""Function `status`: GET /status (no auth) and GET /stats (the tenant's daily figures)."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.config import settings
from common.errors import NotFound, field_error
from common.http import Request, json_response


def get_status(request: Request) -> Response:
    return json_response(200, {"status": "ok", "version": settings().version})


def get_stats(request: Request) -> Response:
    from common import rollup

    unknown = set(request.query) - {"day"}
    if unknown:
        raise field_error(sorted(unknown)[0], "unknown query parameter")
    day = request.query.get("day") or rollup.today()
    try:
        rollup.parse_day(day)
    except ValueError:
        raise field_error("day", "must be a date, YYYY-MM-DD") from None
    figures = rollup.figures_for(request.tenant, day)
    if figures is None:
        raise NotFound(f"No figures for {day}.")
    return json_response(200, figures)


ROUTES: dict[str, Route] = {
    "GET /status": Route(get_status, auth="none"),
    "GET /stats": Route(get_stats, auth="viewer"),
}

handler = http_handler("status", ROUTES)
