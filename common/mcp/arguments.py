"""The MCP tools' arguments: one typed model per tool, validated once.

A tool's arguments are JSON values, so each field is typed strictly (a string is not an
integer) and then checked by the very rule object the HTTP route parses its query string
with (`LIMIT.typed`, `notes.KIND.typed`, `rehydrate.MAX_TOKENS.typed`, ...): a bad
value answers with the route's message, and the tool calls the domain function with
the model's typed values.  `add_note` takes `notes.NoteIn`, the `POST /notes` body.

The `json_schema_extra` of a field repeats its rule for the tool's inputSchema (what a
model reads before calling); `input_schema` turns each model into that schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from common.context import notes, rehydrate, render, search
from common.runtime.models import (
    CURSOR,
    DEFAULT_LIMIT,
    LIMIT,
    MAX_LIMIT,
    SLUG,
    BodyModel,
    query_int,
    query_text,
)
from common.runtime.slug import SLUG_PATTERN

Slug = Annotated[str, SLUG.typed]
Limit = Annotated[int, LIMIT.typed]
Cursor = Annotated[str, CURSOR.typed]
Kind = Annotated[str, notes.KIND.typed]
SEARCH_TEXT = query_text(200)
SEARCH_LIMIT = query_int(1, search.SEARCH_LIMIT_MAX)

_SLUG = {"pattern": SLUG_PATTERN, "description": "A thread id (slug)"}
_LIMIT = {"minimum": 1, "maximum": MAX_LIMIT}
_CURSOR = {"description": "next_cursor from the previous page"}
_KIND = {"enum": list(notes.NOTE_KINDS)}


def _optional(**schema: Any) -> Any:
    """An optional argument (absent and null mean the same), `schema` for its document."""
    return Field(default=None, json_schema_extra=schema)


def _required(**schema: Any) -> Any:
    return Field(json_schema_extra=schema)


def _limit(default: int, **schema: Any) -> Any:
    return Field(default=default, json_schema_extra=schema)


class ToolArgs(BodyModel):
    """A tool's arguments: unknown ones refused, nothing coerced."""


class RehydrateArgs(ToolArgs):
    """One of thread_id (its newest snapshot) or snapshot_id."""

    thread_id: Slug | None = _optional(**_SLUG)
    # Any string: an id that names no snapshot is 404, as GET /rehydrate/{snapshot_id}.
    snapshot_id: str | None = _optional(description="A snapshot id")
    format: Annotated[str, rehydrate.FORMAT.typed] = Field(
        default="markdown", json_schema_extra={"enum": list(rehydrate.FORMATS)}
    )
    max_tokens: Annotated[int, rehydrate.MAX_TOKENS.typed] | None = _optional(
        minimum=render.MIN_TOKENS, maximum=render.MAX_TOKENS, description="A token budget"
    )
    since: Annotated[str, rehydrate.SINCE.typed] | None = _optional(
        description="An earlier snapshot id of the same thread: adds what changed since"
    )


class ListThreadsArgs(ToolArgs):
    limit: Limit = _limit(DEFAULT_LIMIT, **_LIMIT)
    cursor: Cursor | None = _optional(**_CURSOR)


class ListSnapshotsArgs(ToolArgs):
    thread_id: Slug = _required(**_SLUG)
    limit: Limit = _limit(DEFAULT_LIMIT, **_LIMIT)
    cursor: Cursor | None = _optional(**_CURSOR)


class GetNotesArgs(ToolArgs):
    thread_id: Slug = _required(**_SLUG)
    kind: Kind | None = _optional(**_KIND)
    limit: Limit = _limit(DEFAULT_LIMIT, **_LIMIT)
    cursor: Cursor | None = _optional(**_CURSOR)


class SearchNotesArgs(ToolArgs):
    query: Annotated[str, SEARCH_TEXT.typed] = _required(
        minLength=1, maxLength=200, description="Text to find in notes (case-insensitive)"
    )
    thread_id: Slug | None = _optional(
        **{
            **_SLUG,
            "description": "Search this thread only (default: the 20 most recently "
            "active threads, the newest 200 notes of each)",
        }
    )
    kind: Kind | None = _optional(**_KIND)
    limit: Annotated[int, SEARCH_LIMIT.typed] = _limit(
        search.SEARCH_LIMIT_DEFAULT, minimum=1, maximum=search.SEARCH_LIMIT_MAX
    )


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a tool's inputSchema: no pydantic titles, and an
    optional argument documented as its type (not `anyOf` with null, no null default)."""
    schema = model.model_json_schema()
    for key in ("title", "description"):
        schema.pop(key, None)
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        arms = prop.pop("anyOf", None)
        if arms is not None and _is_optional_scalar(arms):
            prop.update(next(arm for arm in arms if arm != _NULL))
        elif arms is not None:
            prop["anyOf"] = arms  # an optional object (add_note's source): kept as it is
        properties[name] = dict(sorted(prop.items()))  # pydantic's own key order
    return schema


_NULL = {"type": "null"}


def _is_optional_scalar(arms: list[dict[str, Any]]) -> bool:
    return len(arms) == 2 and _NULL in arms and not any("$ref" in arm for arm in arms)
