"""Function `rehydrate`: GET /rehydrate?thread_id=... and GET /rehydrate/{snapshot_id}.

One metadata read (GetItem, or a Limit-1 Query for the thread's newest), one S3
GetObject with its SHA-256 checked, then the pure renderer.  `since` adds one more
metadata read and object fetch.  Markdown responses carry `X-Token-Estimate` (the
renderer's estimate, the one `max_tokens` is held to); `format=json` reports it as
`token_estimate`.
"""

from __future__ import annotations

from typing import Any

from common.api import Response, Route, http_handler
from common.context import rehydrate, snapshots
from common.runtime.http import Request, json_response, text_response

MARKDOWN = "text/markdown; charset=utf-8"


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


def rehydrate_snapshot(request: Request) -> Response:
    query = request.query_model(rehydrate.RenderQuery)
    meta = snapshots.get_meta(request.tenant, request.path_param("snapshot_id"))
    return _render(request, meta, query)


def rehydrate_thread(request: Request) -> Response:
    query = request.query_model(rehydrate.ThreadRenderQuery)
    return _render(request, snapshots.newest_meta(request.tenant, query.thread_id), query)


ROUTES: dict[str, Route] = {
    "GET /rehydrate": Route(rehydrate_thread),
    "GET /rehydrate/{snapshot_id}": Route(rehydrate_snapshot),
}

handler = http_handler("rehydrate", ROUTES)
