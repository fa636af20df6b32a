"""What the MCP server offers: tools, resources and prompts over the context domain.

Each tool validates its arguments once, into its typed model (common/mcp/arguments.py:
strict JSON types, then the HTTP routes' own rules, so a bad value gets the same
message on both; `add_note` takes the `POST /notes` body model), and calls the domain
function with the model's values.

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
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from common.access import auth
from common.context import notes, rehydrate, render, search, snapshots, threads
from common.mcp import arguments as args
from common.mcp.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError
from common.runtime.errors import ApiError, NotFound, ValidationFailed, field_error
from common.runtime.http import DEFAULT_LIMIT, Principal, page, validation_details

MARKDOWN = "text/markdown"
URI_TEMPLATE = "dockhand://threads/{thread_id}/rehydrate"
_URI = re.compile(r"dockhand://threads/(?P<thread_id>[^/]+)/rehydrate")

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
        schema = args.input_schema(self.arguments)
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


Model = TypeVar("Model", bound=BaseModel)


def _validated(model: type[Model], arguments: Mapping[str, Any]) -> Model:
    """The arguments as `model`, or 400 validation_error with the HTTP API's details."""
    present = {name: value for name, value in arguments.items() if value is not None}
    try:
        return model.model_validate(present)
    except ValidationError as exc:
        raise ValidationFailed(details=validation_details(exc)) from None


def _json_output(body: Mapping[str, Any]) -> ToolOutput:
    # The text is the same JSON (2025-06-18 tools: structured content SHOULD also be
    # returned serialized in a text block, for clients that read text only).
    return ToolOutput(json.dumps(body, ensure_ascii=False), dict(body))


def _rehydrate(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    given = _validated(args.RehydrateArgs, arguments)
    thread_id, snapshot_id = given.thread_id, given.snapshot_id
    if snapshot_id is not None and thread_id is None:
        meta = snapshots.get_meta(principal.tenant, snapshot_id)
    elif thread_id is not None and snapshot_id is None:
        meta = snapshots.newest_meta(principal.tenant, thread_id)
    else:
        raise field_error("thread_id", "give thread_id or snapshot_id (one of them)")
    rendered = rehydrate.render_meta(
        principal.tenant, meta, given.format, given.max_tokens, given.since
    ).body
    return _json_output(rendered) if isinstance(rendered, dict) else ToolOutput(rendered)


def _list_threads(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    given = _validated(args.ListThreadsArgs, arguments)
    items, next_cursor = threads.list_threads(principal.tenant, given.limit, given.cursor)
    return _json_output(page(items, next_cursor))


def _list_snapshots(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    given = _validated(args.ListSnapshotsArgs, arguments)
    items, next_cursor = snapshots.list_meta(
        principal.tenant, given.thread_id, given.limit, given.cursor
    )
    return _json_output(page(items, next_cursor))


def _get_notes(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    given = _validated(args.GetNotesArgs, arguments)
    items, next_cursor = notes.list_notes(
        principal.tenant, given.thread_id, given.kind, given.limit, given.cursor
    )
    return _json_output(page(items, next_cursor))


def _search_notes(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    given = _validated(args.SearchNotesArgs, arguments)
    found = search.search_notes(
        principal.tenant,
        given.query,
        thread_id=given.thread_id,
        kind=given.kind,
        limit=given.limit,
    )
    return _json_output(found)


def _add_note(principal: Principal, arguments: Mapping[str, Any]) -> ToolOutput:
    auth.require_role(principal, "creator")  # before validation, as POST /notes answers 403
    note = _validated(notes.NoteIn, arguments)
    return _json_output(notes.create_note(principal.tenant, note))


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
            args.RehydrateArgs,
            _rehydrate,
        ),
        Tool(
            "list_threads",
            "List threads",
            "The tenant's work threads, most recently active first (paginated).",
            args.ListThreadsArgs,
            _list_threads,
        ),
        Tool(
            "list_snapshots",
            "List a thread's snapshots",
            "The snapshots stored for a thread, newest first (paginated).",
            args.ListSnapshotsArgs,
            _list_snapshots,
        ),
        Tool(
            "get_notes",
            "Read a thread's notes",
            "A thread's notes, oldest first (paginated); kind filters note, decision, "
            "question or todo.",
            args.GetNotesArgs,
            _get_notes,
        ),
        Tool(
            "search_notes",
            "Search notes",
            "Notes whose text or tags contain `query` (case-insensitive), newest first, "
            "optionally of one thread and one kind. Bounded: a thread's newest 1,000 notes, "
            "or without thread_id the newest 200 notes of the 20 most recently active "
            "threads; `searched.complete` is false when older notes were not read.",
            args.SearchNotesArgs,
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
        rules = _validated(rehydrate.ThreadRenderQuery, arguments)
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
