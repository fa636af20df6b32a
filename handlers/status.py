"""Function `status`: the status page (GET /), GET /status and GET /openapi.json (no
auth), and GET /stats (the tenant's daily figures and ranges)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from common.api import Response, RouteTable, http_handler
from common.runtime.errors import NotFound
from common.runtime.http import Request, json_response, text_response
from common.runtime.routedoc import Extras, Named
from common.runtime.status_page import PageOptions, StatusView, status_page, status_view

# GET /stats is this function's data route: load it with the handler.
from common.stats import ranges, rollup

routes = RouteTable()


@routes.get(
    "/", auth="none", ok={200: Named("StatusPage", {"type": "string"})}, doc=Extras(html=True)
)
def get_page(request: Request, query: PageOptions) -> Response:
    """The operator's status page (one HTML document; it asks for an API key)"""
    # The query takes only ?refresh=N (tests shorten the 10 s refresh).
    page, headers = status_page()
    return {"statusCode": 200, "headers": dict(headers), "body": page, "isBase64Encoded": False}


@routes.get("/status", auth="none", ok={200: StatusView})
def get_status(request: Request) -> Response:
    """Liveness and version"""
    return json_response(200, status_view())


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    # Written by tools/gen/openapi.py and shipped as package data: no schema generation here.
    return resources.files("common").joinpath("openapi.json").read_text("utf-8")


OPENAPI_DOCUMENT = Named("OpenApiDocument", {"type": "object", "description": "This document."})


@routes.get("/openapi.json", auth="none", ok={200: OPENAPI_DOCUMENT})
def get_openapi(request: Request) -> Response:
    """This document"""
    return text_response(200, _openapi_text(), "application/json")


@routes.get("/stats", ok={200: ranges.STATS_ANSWER}, errors=(404,), doc=Extras(csv=True))
def get_stats(request: Request, query: ranges.StatsQuery) -> Response:
    """The tenant's figures for a day (today's are live), or for a range of days

    `day` (default today) answers one day, 404 when it has no data; `from` and `to` (both
    included, at most 92 days) answer every day, zeros included, with totals;
    `format=csv` answers a header row and one row per day.
    """
    if query.days is not None:
        figures = ranges.range_figures(request.tenant, query.days)
        if query.format == "csv":
            return text_response(200, ranges.as_csv(figures), "text/csv; charset=utf-8")
        return json_response(200, figures)
    day = rollup.figures_for(request.tenant, query.one_day)
    if day is None:
        raise NotFound(f"No figures for {query.one_day}.")
    return json_response(200, day)


ROUTES = routes.table
handler = http_handler("status", ROUTES)
