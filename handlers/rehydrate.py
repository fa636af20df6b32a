"""Function `rehydrate`: GET /rehydrate?thread_id=... and GET /rehydrate/{snapshot_id}.

One metadata read (GetItem, or a Limit-1 Query for the thread's newest), one S3
GetObject with its SHA-256 checked, then the pure renderer.  `since` adds one more
metadata read and object fetch.  Markdown responses carry `X-Token-Estimate` (the
renderer's estimate, the one `max_tokens` is held to); `format=json` reports it as
`token_estimate`.
"""

from __future__ import annotations

from typing import Any

from common.api import Response, RouteTable, http_handler
from common.context import rehydrate, snapshots
from common.runtime.http import Request, json_response, text_response
from common.runtime.routedoc import Extras, Named

MARKDOWN = "text/markdown; charset=utf-8"
DOCUMENT = Named(
    "RehydrateDocument",
    {
        "type": "object",
        "description": "The markdown document's sections as structured data (format=json).",
    },
)
routes = RouteTable()


def _render(request: Request, meta: dict[str, Any], query: rehydrate.RenderQuery) -> Response:
    # The rules live in common.context.rehydrate: the MCP `rehydrate` tool shares them.
    rendered = rehydrate.render_meta(
        request.tenant, meta, query.format, query.max_tokens, query.since
    )
    estimate = {"X-Token-Estimate": str(rendered.token_estimate)}
    if isinstance(rendered.body, dict):
        return json_response(200, rendered.body, headers=estimate)
    response = text_response(200, rendered.body, MARKDOWN)
    response["headers"].update(estimate)
    return response


@routes.get("/rehydrate/{snapshot_id}", ok={200: DOCUMENT}, doc=Extras(markdown=True))
def rehydrate_snapshot(request: Request, query: rehydrate.RenderQuery) -> Response:
    """Render a snapshot"""
    meta = snapshots.get_meta(request.tenant, request.path_param("snapshot_id"))
    return _render(request, meta, query)


@routes.get("/rehydrate", ok={200: DOCUMENT}, doc=Extras(markdown=True))
def rehydrate_thread(request: Request, query: rehydrate.ThreadRenderQuery) -> Response:
    """Render the thread's newest snapshot"""
    return _render(request, snapshots.newest_meta(request.tenant, query.thread_id), query)


ROUTES = routes.table
handler = http_handler("rehydrate", ROUTES)
