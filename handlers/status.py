"""Function `status`: the status page (GET /), GET /status and GET /openapi.json (no
auth), and GET /stats (the tenant's daily figures and ranges)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.api import Response, Route, http_handler
from common.runtime.config import settings
from common.runtime.errors import NotFound, field_error
from common.runtime.http import Request, json_response, text_response
from common.runtime.models import QueryModel, query_int

# GET /stats is this function's data route: load it with the handler.
from common.stats import ranges, rollup

_PAGE_PATH = Path(__file__).with_name("status_page.html")


@lru_cache(maxsize=1)
def _status_page() -> tuple[str, dict[str, str]]:
    """The page and its headers, built once per container: the CSP allows exactly the
    page's one inline script and one inline style, by SHA-256, and nothing else."""
    page = _PAGE_PATH.read_text("utf-8")
    hashes = {
        tag: "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for tag in ("script", "style")
        for block in re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    }
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {hashes['script']}",
            f"style-src {hashes['style']}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }
    return page, headers


class PageOptions(QueryModel):
    refresh: Annotated[int, query_int(1, 3600)] | None = None


def get_page(request: Request) -> Response:
    """GET /: the operator's status page (it asks for an API key itself)."""
    request.query_model(PageOptions)  # only ?refresh=N (tests shorten the 10 s refresh)
    page, headers = _status_page()
    return {"statusCode": 200, "headers": dict(headers), "body": page, "isBase64Encoded": False}


@with_config(ConfigDict(extra="forbid", title="Status"))
class StatusView(TypedDict):
    status: Literal["ok"]
    version: str


def status_view() -> StatusView:
    return {"status": "ok", "version": settings().version}


def get_status(request: Request) -> Response:
    return json_response(200, status_view())


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    # Written by tools/openapi.py and shipped as package data: no schema generation here.
    return resources.files("common").joinpath("openapi.json").read_text("utf-8")


def get_openapi(request: Request) -> Response:
    return text_response(200, _openapi_text(), "application/json")


def get_stats(request: Request) -> Response:
    query = request.query_model(ranges.StatsQuery)
    if query.start is not None or query.end is not None:
        return _range(request, query)
    if query.format == "csv":
        raise field_error("format", "csv needs a range: from and to")
    day = query.day or rollup.today()  # absent means today
    try:
        rollup.parse_day(day)
    except ValueError:
        raise field_error("day", "must be a date, YYYY-MM-DD") from None
    figures = rollup.figures_for(request.tenant, day)
    if figures is None:
        raise NotFound(f"No figures for {day}.")
    return json_response(200, figures)


def _range(request: Request, query: ranges.StatsQuery) -> Response:
    if query.day is not None:
        raise field_error("day", "give either day, or from and to")
    if query.start is None or query.end is None:
        raise field_error("from" if query.start is None else "to", "a range needs both from and to")
    try:
        days = ranges.parse_range(query.start, query.end)
    except ranges.RangeError as error:
        raise field_error(error.field, str(error)) from None
    figures = ranges.range_figures(request.tenant, days)
    if query.format == "csv":
        return text_response(200, ranges.as_csv(figures), "text/csv; charset=utf-8")
    return json_response(200, figures)


ROUTES: dict[str, Route] = {
    "GET /": Route(get_page, auth="none"),
    "GET /status": Route(get_status, auth="none"),
    "GET /stats": Route(get_stats, auth="viewer"),
    "GET /openapi.json": Route(get_openapi, auth="none"),
}

handler = http_handler("status", ROUTES)
