"""Function `rehydrate`: GET /rehydrate?thread_id=... and GET /rehydrate/{snapshot_id}.

One metadata read (GetItem, or a Limit-1 Query for the thread's newest), one S3
GetObject with its SHA-256 checked, then the pure renderer.  `since` adds one more
metadata read and object fetch.  Markdown responses carry `X-Token-Estimate` (the
renderer's estimate, the one `max_tokens` is held to); `format=json` reports it as
`token_estimate`.
"""

from __future__ import annotations

import time
from typing import Any

from common.api import Response, Route, http_handler
from common.context import notes, rehydrate, render, snapshots
from common.runtime import catalogue
from common.runtime.http import Request, json_response, reject_unknown_query, text_response

MARKDOWN = "text/markdown; charset=utf-8"
_PARAMS = frozenset({"format", "max_tokens", "since"})


# The rules live in common.context.rehydrate: the MCP `rehydrate` tool shares them.
_max_tokens = rehydrate.parse_max_tokens
_format = rehydrate.parse_format


def _since_document(request: Request, meta: dict[str, Any]) -> dict[str, Any] | None:
    return rehydrate.since_document(request.tenant, request.query.get("since"), meta)


def _render(request: Request, meta: dict[str, Any]) -> Response:
    output = _format(request.query.get("format"))
    max_tokens = _max_tokens(request.query.get("max_tokens"))
    since = _since_document(request, meta)
    document = snapshots.load_document(meta)
    started = time.perf_counter()
    if output == "json":
        response = json_response(200, render.render_json(document, since, max_tokens))
    else:
        text, estimate = render.render_markdown_with_estimate(document, since, max_tokens)
        response = text_response(200, text, MARKDOWN)
        response["headers"]["X-Token-Estimate"] = str(estimate)
    catalogue.record("rehydrate_render", (time.perf_counter() - started) * 1000)
    return response


def rehydrate_snapshot(request: Request) -> Response:
    reject_unknown_query(request.query, _PARAMS)
    meta = snapshots.get_meta(request.tenant, request.path_param("snapshot_id"))
    return _render(request, meta)


def rehydrate_thread(request: Request) -> Response:
    reject_unknown_query(request.query, _PARAMS | {"thread_id"})
    thread_id = notes.require_thread_id(request.query.get("thread_id"))
    return _render(request, snapshots.newest_meta(request.tenant, thread_id))


ROUTES: dict[str, Route] = {
    "GET /rehydrate": Route(rehydrate_thread),
    "GET /rehydrate/{snapshot_id}": Route(rehydrate_snapshot),
}

handler = http_handler("rehydrate", ROUTES)
