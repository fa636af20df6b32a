"""The rehydrate request's rules, shared by `GET /rehydrate` and the MCP `rehydrate` tool.

Both take the same raw values (query strings over HTTP; the tool's arguments turned
into the same strings), so a bad value answers with the same message on both.
"""

from __future__ import annotations

import time
from typing import Any

from common.context import render, snapshots
from common.runtime import catalogue
from common.runtime.errors import NotFound, field_error

FORMATS = ("markdown", "json")


def parse_max_tokens(raw: str | None) -> int | None:
    if raw is None:
        return None
    # isascii: str.isdigit() also accepts "²" (int() then raises: a 500) and other scripts' digits.
    digits = raw.isascii() and raw.isdigit()
    if not digits or not render.MIN_TOKENS <= int(raw) <= render.MAX_TOKENS:
        raise field_error(
            "max_tokens", f"must be an integer from {render.MIN_TOKENS} to {render.MAX_TOKENS}"
        )
    return int(raw)


def parse_format(raw: str | None) -> str:
    value = raw or "markdown"
    if value not in FORMATS:
        raise field_error("format", "must be markdown or json")
    return value


SINCE_RULE = "must name an older snapshot of the same thread"


def since_document(
    tenant: str, since_id: str | None, meta: dict[str, Any]
) -> dict[str, Any] | None:
    """The earlier snapshot to compare with.  Anything but an older snapshot of the same
    thread is 400, with one message whatever the reason, so `since` tells nothing about
    ids of other threads or tenants."""
    if since_id is None:
        return None
    try:
        earlier = snapshots.get_meta(tenant, since_id)
    except NotFound:
        raise field_error("since", SINCE_RULE) from None
    if earlier["thread_id"] != meta["thread_id"] or not _older(earlier, meta):
        raise field_error("since", SINCE_RULE)
    return snapshots.load_document(earlier)


def _older(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    # Snapshot ids are ULIDs: they sort by creation time, and break ties within a millisecond.
    first = (str(earlier["created_at"]), str(earlier["snapshot_id"]))
    return first < (str(later["created_at"]), str(later["snapshot_id"]))


def render_meta(
    tenant: str,
    meta: dict[str, Any],
    output: str,
    max_tokens: int | None,
    since_id: str | None,
) -> str | dict[str, Any]:
    """The document of `meta` (markdown text, or the JSON form): the same reads, in the
    same order, as `GET /rehydrate` (the since snapshot first, then this one's object)."""
    since = since_document(tenant, since_id, meta)
    document = snapshots.load_document(meta)
    started = time.perf_counter()
    rendered: str | dict[str, Any]
    if output == "json":
        rendered = render.render_json(document, since, max_tokens)
    else:
        rendered = render.render_markdown(document, since, max_tokens)
    catalogue.record("rehydrate_render", (time.perf_counter() - started) * 1000)
    return rendered
