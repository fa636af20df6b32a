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
from common.context import notes, render, snapshots
from common.runtime import catalogue
from common.runtime.errors import NotFound, field_error
from common.runtime.http import Request, json_response, reject_unknown_query, text_response

MARKDOWN = "text/markdown; charset=utf-8"
_PARAMS = frozenset({"format", "max_tokens", "since"})
_SINCE_RULE = "must name an older snapshot of the same thread"


def _max_tokens(raw: str | None) -> int | None:
    if raw is None:
        return None
    # isascii: str.isdigit() also accepts "²" (int() then raises: a 500) and other scripts' digits.
    digits = raw.isascii() and raw.isdigit()
    if not digits or not render.MIN_TOKENS <= int(raw) <= render.MAX_TOKENS:
        raise field_error(
            "max_tokens", f"must be an integer from {render.MIN_TOKENS} to {render.MAX_TOKENS}"
        )
    return int(raw)


def _format(raw: str | None) -> str:
    value = raw or "markdown"
    if value not in ("markdown", "json"):
        raise field_error("format", "must be markdown or json")
    return value


def _since_document(request: Request, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier snapshot to compare with.  An id that names no snapshot here (unknown,
    malformed, another tenant's) is 404 like every unknown id; a snapshot of another
    thread, the snapshot itself or a newer one is 400 (`since` must be older)."""
    since_id = request.query.get("since")
    if since_id is None:
        return None
    try:
        earlier = snapshots.get_meta(request.tenant, since_id)
    except NotFound:
        raise NotFound("No such snapshot for since.") from None
    if earlier["thread_id"] != meta["thread_id"] or not _older(earlier, meta):
        raise field_error("since", _SINCE_RULE)
    return snapshots.load_document(earlier)


def _older(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    # Snapshot ids are ULIDs: they sort by creation time, and break ties within a millisecond.
    first = (str(earlier["created_at"]), str(earlier["snapshot_id"]))
    return first < (str(later["created_at"]), str(later["snapshot_id"]))


def _render(request: Request, meta: dict[str, Any]) -> Response:
    output = _format(request.query.get("format"))
    max_tokens = _max_tokens(request.query.get("max_tokens"))
    since = _since_document(request, meta)
    document = snapshots.load_document(meta)
    started = time.perf_counter()
    if output == "json":
        body = render.render_json(document, since, max_tokens)
        header = {"X-Token-Estimate": str(body["token_estimate"])}
        response = json_response(200, body, headers=header)
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
