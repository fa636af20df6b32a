"""The rehydrate request's rules, shared by `GET /rehydrate` and the MCP `rehydrate` tool.

The route parses query strings with these rules; the tool applies the same rule objects
(`FORMAT.typed`, ...) to its typed JSON arguments: a bad value answers with the same
message on both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from common.context import render, search, snapshots
from common.runtime import catalogue
from common.runtime.errors import NotFound, field_error
from common.runtime.models import QueryModel, SlugParam, query_choice, query_int, query_text

FORMATS = ("markdown", "json")
FORMAT = query_choice(FORMATS)
MAX_TOKENS = query_int(render.MIN_TOKENS, render.MAX_TOKENS)
SINCE = query_text(64, "An older snapshot of the same thread: adds what changed")


class RenderQuery(QueryModel):
    """GET /rehydrate/{snapshot_id}, and the rendering part of GET /rehydrate."""

    format: Annotated[str, FORMAT] = "markdown"
    max_tokens: Annotated[int, MAX_TOKENS] | None = None
    since: Annotated[str, SINCE] | None = None


class ThreadRenderQuery(RenderQuery):
    """GET /rehydrate: the thread's newest snapshot (and the MCP `resume` prompt, whose
    arguments are strings as a query's are)."""

    thread_id: SlugParam


SINCE_RULE = "must name an older snapshot of the same thread"


def since_document(
    tenant: str, since_id: str | None, meta: dict[str, Any]
) -> dict[str, Any] | None:
    """The earlier snapshot to compare with.  An id that names no snapshot here (unknown,
    malformed, another tenant's) is 404 like every unknown id; a snapshot of another
    thread, the snapshot itself or a newer one is 400 (`since` must be older)."""
    if since_id is None:
        return None
    try:
        earlier = snapshots.get_meta(tenant, since_id)
    except NotFound:  # unknown, malformed or another tenant's: 404 like every unknown id
        raise NotFound("No such snapshot for since.") from None
    if earlier["thread_id"] != meta["thread_id"] or not _older(earlier, meta):
        raise field_error("since", SINCE_RULE)
    return snapshots.load_document(earlier)


def _older(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    # Snapshot ids are ULIDs: they sort by creation time, and break ties within a millisecond.
    first = (str(earlier["created_at"]), str(earlier["snapshot_id"]))
    return first < (str(later["created_at"]), str(later["snapshot_id"]))


def with_newer_notes(tenant: str, document: dict[str, Any]) -> dict[str, Any]:
    """The newest snapshot's document with the notes written since it (one bounded Query;
    older snapshots render as they were)."""
    frozen = {str(note.get("note_id")) for note in document.get("notes") or []}
    thread_id = str((document.get("thread") or {}).get("id"))
    newer, more = search.newer_notes(tenant, thread_id, str(document["created_at"]), frozen)
    if not newer:
        return document
    return {**document, "newer_notes": newer, "newer_notes_more": more}


@dataclass(frozen=True)
class Rendered:
    body: str | dict[str, Any]  # markdown text, or the JSON form (with its token_estimate)
    token_estimate: int


def render_meta(
    tenant: str,
    meta: dict[str, Any],
    output: str,
    max_tokens: int | None,
    since_id: str | None,
) -> Rendered:
    """The document of `meta`: the same reads, in the same order, for `GET /rehydrate`
    and the MCP tool (the since snapshot first, then this one's object)."""
    since = since_document(tenant, since_id, meta)
    document = snapshots.load_document(meta)
    if meta.get(snapshots.NEWEST):
        document = with_newer_notes(tenant, document)
    started = time.perf_counter()
    if output == "json":
        body = render.render_json(document, since, max_tokens)
        rendered = Rendered(body, int(body["token_estimate"]))
    else:
        text, estimate = render.render_markdown_with_estimate(document, since, max_tokens)
        rendered = Rendered(text, estimate)
    catalogue.record("rehydrate_render", (time.perf_counter() - started) * 1000)
    return rendered
