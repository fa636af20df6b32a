"""What the MCP server offers: tools, resources and prompts over the context domain.

Tool arguments are checked by the HTTP API's own rules so a bad value gets the same
message on both: `add_note` validates with `notes.NoteIn` (the `POST /notes` body
model); the reading tools mirror query-string routes, so their models check only
types and unknown fields, then hand the values, as the strings a query would carry,
to the routes' own query models (`notes.NotesQuery`, `rehydrate.RenderQuery`, ...).
Their JSON Schemas carry the route's ranges and patterns (documentation for the model;
enforcement stays in one place).

A tool whose input or business rule fails answers a result with `isError: true`
whose text is the HTTP API's error (code, message, details): a model can read it and
correct its call (2025-11-25 server/tools "Error Handling").  Another tenant's ids
are unknown here exactly as over HTTP: every read is keyed by the caller's tenant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.access import auth
from common.context import notes, rehydrate, render, search, snapshots, threads
from common.mcp.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError
from common.runtime.errors import ApiError, NotFound, ValidationFailed, field_error
from common.runtime.http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Principal,
    page,
    validation_details,
)
from common.runtime.models import BodyModel
from common.runtime.slug import SLUG_PATTERN

MARKDOWN = "text/markdown"
URI_TEMPLATE = "dockhand://threads/{thread_id}/rehydrate"
_URI = re.compile(r"dockhand://threads/(?P<thread_id>[^/]+)/rehydrate")

# --- argument models (types and unknown fields; the rules are the routes') ---------------


def _schema(**extra: Any) -> Any:
    """JSON Schema keywords that document a rule enforced by the route's own function."""
    return Field(default=None, json_schema_extra=extra)


_SLUG = {"pattern": SLUG_PATTERN, "description": "A thread id (slug)"}
_LIMIT = {"minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}
_CURSOR = {"description": "next_cursor from the previous page"}


class _Args(BodyModel):
    """A tool's arguments: unknown ones refused, nothing coerced."""


class RehydrateArgs(_Args):
    """One of thread_id (its newest snapshot) or snapshot_id."""

    thread_id: str = _schema(**_SLUG)
    snapshot_id: str = _schema(description="A snapshot id")
    format: str = _schema(enum=list(rehydrate.FORMATS), default="markdown")
    max_tokens: int = _schema(
        minimum=render.MIN_TOKENS, maximum=render.MAX_TOKENS, description="A token budget"
    )
    since: str = _schema(
        description="An earlier snapshot id of the same thread: adds what changed since"
    )


class ListThreadsArgs(_Args):
    limit: int = _schema(**_LIMIT)
    cursor: str = _schema(**_CURSOR)


class _ThreadArgs(_Args):
    # Required, but checked by require_thread_id so a missing one reads as over HTTP.
    model_config = ConfigDict(json_schema_extra={"required": ["thread_id"]})
    thread_id: str = _schema(**_SLUG)


class ListSnapshotsArgs(_ThreadArgs):
    limit: int = _schema(**_LIMIT)
    cursor: str = _schema(**_CURSOR)


class GetNotesArgs(_ThreadArgs):
    kind: str = _schema(enum=list(notes.NOTE_KINDS))
    limit: int = _schema(**_LIMIT)
    cursor: str = _schema(**_CURSOR)


class SearchNotesArgs(_Args):
    # Required, but checked by the query model so a missing one reads as a missing field.
    model_config = ConfigDict(json_schema_extra={"required": ["query"]})
    query: str = _schema(
        minLength=1, maxLength=200, description="Text to find in notes (case-insensitive)"
    )
    thread_id: str = _schema(
        **{
            **_SLUG,
            "description": "Search this thread only (default: the 20 most recently "
            "active threads, the newest 200 notes of each)",
        }
    )
    kind: str = _schema(enum=list(notes.NOTE_KINDS))
    limit: int = _schema(
        minimum=1, maximum=search.SEARCH_LIMIT_MAX, default=search.SEARCH_LIMIT_DEFAULT
    )


def _query(args: BaseModel) -> dict[str, str]:
    """The arguments as the query string a GET route would receive."""
    return {name: str(value) for name, value in args.model_dump(exclude_none=True).items()}


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema without pydantic's titles and the `null` defaults of
    optional arguments (absent and null mean the same here)."""
    schema = model.model_json_schema()
    for key in ("title", "description"):
        schema.pop(key, None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
    return schema


# --- tools ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolOutput:
    text: str
    structured: dict[str, Any] | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    run: Callable[[Principal, Mapping[str, Any]], ToolOutput]
    writes: bool = False

    def definition(self) -> dict[str, Any]:
        schema = _schema_of(self.arguments)
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": not self.writes,
                "destructiveHint": False,
                "idempotentHint": not self.writes,
                "openWorldHint": False,
            },
        }


def _validated(model: type[BaseModel], arguments: Mapping[str, Any]) -> Any:
    """The arguments as `model`, or 400 validation_error with the HTTP API's details."""
    present = {name: value for name, value in arguments.items() if value is not None}
    try:
        return model.model_validate(present)
    except ValidationError as exc:
        raise ValidationFailed(details=validation_details(exc)) from None


def _json_output(body: dict[str, Any]) -> ToolOutput:
    # The text is the same JSON (2025-06-18 tools: structured content SHOULD also be
    # returned serialized in a text block, for clients that read text only).
    return ToolOutput(json.dumps(body, ensure_ascii=False), body)


def _rehydrate(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    query = _query(_validated(RehydrateArgs, arguments))
    snapshot_id = query.pop("snapshot_id", None)
    if ("thread_id" in query) == (snapshot_id is not None):
        raise field_error("thread_id", "give thread_id or snapshot_id (one of them)")
    if snapshot_id is not None:
        rules: rehydrate.RenderQuery = _validated(rehydrate.RenderQuery, query)
        meta = snapshots.get_meta(principal.tenant, snapshot_id)
    else:
        thread_rules: rehydrate.ThreadRenderQuery = _validated(rehydrate.ThreadRenderQuery, query)
        meta = snapshots.newest_meta(principal.tenant, thread_rules.thread_id)
        rules = thread_rules
    rendered = rehydrate.render_meta(
        principal.tenant, meta, rules.format, rules.max_tokens, rules.since
    ).body
    return _json_output(rendered) if isinstance(rendered, dict) else ToolOutput(rendered)


def _list_threads(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    query = _validated(threads.ThreadsQuery, _query(_validated(ListThreadsArgs, arguments)))
    items, next_cursor = threads.list_threads(principal.tenant, query.limit, query.cursor)
    return _json_output(page(items, next_cursor))


def _list_snapshots(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    raw = _query(_validated(ListSnapshotsArgs, arguments))
    query = _validated(snapshots.SnapshotsQuery, raw)  # the route's own rules and messages
    items, next_cursor = snapshots.list_meta(
        principal.tenant, query.thread_id, query.limit, query.cursor
    )
    return _json_output(page(items, next_cursor))


def _get_notes(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    query = _validated(notes.NotesQuery, _query(_validated(GetNotesArgs, arguments)))
    items, next_cursor = notes.list_notes(
        principal.tenant, query.thread_id, query.kind, query.limit, query.cursor
    )
    return _json_output(page(items, next_cursor))


def _search_notes(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    raw = _query(_validated(SearchNotesArgs, arguments))
    query: search.SearchNotesQuery = _validated(search.SearchNotesQuery, raw)
    return _json_output(dict(search.search_notes(principal.tenant, query)))


def _add_note(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    auth.require_role(principal, "creator")  # before validation, as POST /notes answers 403
    note: notes.NoteIn = _validated(notes.NoteIn, arguments)
    return _json_output(dict(notes.create_note(principal.tenant, note)))


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "rehydrate",
            "Rehydrate a thread",
            "The context-restoration document of a thread's newest snapshot (thread_id) or "
            "of one snapshot (snapshot_id): goal, persona guidance, recent commits, changes, "
            "decisions, tasks, notes and open questions. format=json for structured data; "
            "max_tokens to fit a budget; since=<older snapshot id> to add what changed.",
            RehydrateArgs,
            _rehydrate,
        ),
        Tool(
            "list_threads",
            "List threads",
            "The tenant's work threads, most recently active first (paginated).",
            ListThreadsArgs,
            _list_threads,
        ),
        Tool(
            "list_snapshots",
            "List a thread's snapshots",
            "The snapshots stored for a thread, newest first (paginated).",
            ListSnapshotsArgs,
            _list_snapshots,
        ),
        Tool(
            "get_notes",
            "Read a thread's notes",
            "A thread's notes, oldest first (paginated); kind filters note, decision, "
            "question or todo.",
            GetNotesArgs,
            _get_notes,
        ),
        Tool(
            "search_notes",
            "Search notes",
            "Notes whose text or tags contain `query` (case-insensitive), newest first, "
            "optionally of one thread and one kind. Bounded: a thread's newest 1,000 notes, "
            "or without thread_id the newest 200 notes of the 20 most recently active "
            "threads; `searched.complete` is false when older notes were not read.",
            SearchNotesArgs,
            _search_notes,
        ),
        Tool(
            "add_note",
            "Add a note to a thread",
            "Store a note (a decision, question, todo or plain note) on a thread, with an "
            "optional source {path, line} and tags. Secrets in the text are redacted. "
            "Needs a creator key.",
            notes.NoteIn,
            _add_note,
            writes=True,
        ),
    )
}


def list_tools() -> list[dict[str, Any]]:
    return [tool.definition() for tool in TOOLS.values()]


def tool_error(error: ApiError) -> dict[str, Any]:
    """A tool result with isError: the HTTP API's error (code, message, details)."""
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return {
        "content": [{"type": "text", "text": json.dumps(body, ensure_ascii=False)}],
        "structuredContent": body,
        "isError": True,
    }


def call_tool(principal: Principal, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A CallToolResult; unknown tool → -32602 (a protocol error, as the spec's example)."""
    tool = TOOLS.get(name)
    if tool is None:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
    try:
        output = tool.run(principal, arguments)
    except ApiError as error:
        if error.status >= 500:
            raise  # our fault, not the caller's input: a JSON-RPC internal error
        return tool_error(error)
    result: dict[str, Any] = {"content": [{"type": "text", "text": output.text}], "isError": False}
    if output.structured is not None:
        result["structuredContent"] = output.structured
    return result


# --- resources -----------------------------------------------------------------------------


def resource_uri(thread_id: str) -> str:
    return URI_TEMPLATE.format(thread_id=thread_id)


def list_resources(principal: Principal, cursor: str | None) -> dict[str, Any]:
    """Threads that have a document, a page of GET /threads at a time (its cursor)."""
    items, next_cursor = threads.list_threads(principal.tenant, DEFAULT_LIMIT, cursor)
    resources = [
        {
            "uri": resource_uri(item["thread_id"]),
            "name": item["thread_id"],
            "title": item["goal"] or item["thread_id"],
            "description": f"The context document of thread {item['thread_id']}'s newest "
            f"snapshot ({item['newest_snapshot_at']}).",
            "mimeType": MARKDOWN,
        }
        for item in items
        if item["newest_snapshot_id"]
    ]
    result: dict[str, Any] = {"resources": resources}
    if next_cursor:
        result["nextCursor"] = next_cursor
    return result


def list_resource_templates() -> dict[str, Any]:
    return {
        "resourceTemplates": [
            {
                "uriTemplate": URI_TEMPLATE,
                "name": "thread-document",
                "title": "A thread's newest context document",
                "description": "The rehydrate document of the thread's newest snapshot.",
                "mimeType": MARKDOWN,
            }
        ]
    }


def read_resource(principal: Principal, uri: str) -> dict[str, Any]:
    match = _URI.fullmatch(uri)
    thread_id = match["thread_id"] if match else ""
    if not notes.valid_slug(thread_id):
        raise RpcError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri})
    try:
        meta = snapshots.newest_meta(principal.tenant, thread_id)
    except NotFound:
        raise RpcError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri}) from None
    text = str(rehydrate.render_meta(principal.tenant, meta, "markdown", None, None).body)
    return {"contents": [{"uri": uri, "mimeType": MARKDOWN, "text": text}]}


# --- prompts -------------------------------------------------------------------------------

RESUME_INSTRUCTION = (
    "You are picking up work on the thread `{thread_id}`. The context document below was "
    "rendered from its newest snapshot: read it, then continue the work where it stopped. "
    "Start with the open questions and the tasks in progress, respect the decisions and "
    'constraints it lists (notes under "Newer than this snapshot" were written after it '
    "and come first where they differ), and say which snapshot you resumed from."
)

PROMPTS: dict[str, dict[str, Any]] = {
    "resume": {
        "name": "resume",
        "title": "Resume a thread",
        "description": "Continue the work of a thread from its newest context document.",
        "arguments": [
            {"name": "thread_id", "description": "The thread to resume", "required": True},
            {
                "name": "max_tokens",
                "description": f"A token budget for the document "
                f"({render.MIN_TOKENS}-{render.MAX_TOKENS})",
                "required": False,
            },
        ],
    }
}


def list_prompts() -> list[dict[str, Any]]:
    return list(PROMPTS.values())


def _invalid_params(error: ApiError) -> RpcError:
    return RpcError(INVALID_PARAMS, error.message, {"code": error.code, "details": error.details})


def get_prompt(principal: Principal, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The resume prompt; a bad argument or unknown thread → -32602 (prompts "Error Handling")."""
    if name not in PROMPTS:
        raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
    unknown = sorted(set(arguments) - {"thread_id", "max_tokens"})
    try:
        if unknown:
            raise field_error(unknown[0], "unknown argument")
        if not all(isinstance(value, str) for value in arguments.values()):
            raise field_error("arguments", "prompt arguments are strings")
        rules: rehydrate.ThreadRenderQuery = _validated(rehydrate.ThreadRenderQuery, arguments)
        thread_id = rules.thread_id
        meta = snapshots.newest_meta(principal.tenant, thread_id)
        text = str(
            rehydrate.render_meta(principal.tenant, meta, "markdown", rules.max_tokens, None).body
        )
    except ApiError as error:
        if error.status >= 500:
            raise
        raise _invalid_params(error) from None
    instruction = RESUME_INSTRUCTION.format(thread_id=thread_id)
    return {
        "description": f"Resume thread {thread_id} from snapshot {meta['snapshot_id']}",
        "messages": [
            {"role": "user", "content": {"type": "text", "text": f"{instruction}\n\n{text}"}}
        ],
    }


def cursor_error(error: ApiError) -> RpcError:
    """A bad pagination cursor on a list method: -32602 (server/utilities/pagination)."""
    return _invalid_params(error)
