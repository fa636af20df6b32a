"""Function `status`: GET /status and GET /openapi.json (no auth), and GET /stats (the
tenant's daily figures)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from common.api import Response, Route, http_handler
from common.runtime.config import settings
from common.runtime.errors import NotFound, field_error
from common.runtime.http import Request, json_response, reject_unknown_query, text_response
from common.stats import (
    rollup,  # GET /stats is this function's data route: load it with the handler
)


def get_status(request: Request) -> Response:
    return json_response(200, {"status": "ok", "version": settings().version})


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    # Written by tools/openapi.py and shipped as package data: no schema generation here.
    return resources.files("common").joinpath("openapi.json").read_text("utf-8")


def get_openapi(request: Request) -> Response:
    return text_response(200, _openapi_text(), "application/json")


def get_stats(request: Request) -> Response:
    reject_unknown_query(request.query, {"day"})
    day = request.query.get("day")
    if day is None:  # absent means today; an empty value is invalid like any other
        day = rollup.today()
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
    "GET /openapi.json": Route(get_openapi, auth="none"),
}

handler = http_handler("status", ROUTES)
