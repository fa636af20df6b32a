"""`dockhand mcp`: the dockhand MCP server over stdio, for assistants that start a command.

Built on the official MCP Python SDK (`mcp`, a CLI dependency: never in the Lambda
layer).  It serves the same tools, resources and prompts as `POST /mcp` by forwarding
each request there with the SDK's Streamable HTTP client, authenticated with
`DOCKHAND_API_KEY` at `DOCKHAND_URL` (or the running `make run`): one definition of
the tools, and the API's rules (roles, tenants, rate limits, validation) apply as
they do over HTTP.  Nothing but MCP messages goes to stdout; diagnostics go to stderr.

One tool is its own: `snapshot` {thread_id, goal?, persona?} collects the repository the
server runs in (its working directory), as `dockhand snapshot` does (secrets scrubbed
before sending), and stores it with POST /hydrate; it answers the 201 body.  A snapshot
without a goal keeps the thread's last goal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from tools.cli.snapshot import CliError, api_target

HTTP_TIMEOUT_SECONDS = 30.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mcp",
        help="serve dockhand's MCP tools, resources and prompts over stdio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import anyio

    try:
        url, key = api_target()
    except CliError as error:
        print(f"dockhand mcp: {error}", file=sys.stderr)
        return 2
    endpoint = f"{url}/mcp"
    try:
        anyio.run(serve_stdio, endpoint, key)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the SDK's task groups wrap the cause: show the innermost
        cause = _innermost(error)
        print(
            f"dockhand mcp: no MCP session with {endpoint}: {cause} "
            "(is the API up, and is DOCKHAND_API_KEY a valid key?)",
            file=sys.stderr,
        )
        return 1
    return 0


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def serve_stdio(endpoint: str, key: str) -> None:
    from mcp.server.stdio import stdio_server

    async with AsyncExitStack() as stack:
        upstream = await connect_upstream(stack, endpoint, key)
        server = build_server(upstream)
        read_stream, write_stream = await stack.enter_async_context(stdio_server())
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def connect_upstream(stack: AsyncExitStack, endpoint: str, key: str) -> Any:
    """An SDK client session on POST /mcp with the bearer key (the initialize handshake)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http_client = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT_SECONDS)
    )
    transport = streamable_http_client(endpoint, http_client=http_client, terminate_on_close=False)
    # "legacy": POST /mcp speaks the initialize-handshake revisions; no discover probe.
    return await stack.enter_async_context(Client(transport, mode="legacy", cache=None))


def build_server(upstream: Any) -> Any:
    """A low-level SDK server whose every handler forwards to `upstream` as it is."""
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> Any:
        listed = await upstream.list_tools(cursor=_cursor(params))
        if getattr(listed, "nextCursor", None):
            return listed
        return listed.model_copy(update={"tools": [*listed.tools, snapshot_tool()]})

    async def call_tool(ctx: Any, params: Any) -> Any:
        if params.name == SNAPSHOT:
            import anyio

            return await anyio.to_thread.run_sync(run_snapshot, dict(params.arguments or {}))
        return await upstream.call_tool(params.name, params.arguments)

    async def list_resources(ctx: Any, params: Any) -> Any:
        return await upstream.list_resources(cursor=_cursor(params))

    async def list_resource_templates(ctx: Any, params: Any) -> Any:
        return await upstream.list_resource_templates(cursor=_cursor(params))

    async def read_resource(ctx: Any, params: Any) -> Any:
        return await upstream.read_resource(str(params.uri))

    async def list_prompts(ctx: Any, params: Any) -> Any:
        return await upstream.list_prompts(cursor=_cursor(params))

    async def get_prompt(ctx: Any, params: Any) -> Any:
        return await upstream.get_prompt(params.name, params.arguments)

    info = upstream.server_info
    return Server(
        info.name if info else "dockhand",
        version=info.version if info else "",
        title=info.title if info else None,
        instructions=upstream.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def _cursor(params: Any) -> str | None:
    return getattr(params, "cursor", None) if params is not None else None


# --- the local `snapshot` tool ---------------------------------------------------------------

SNAPSHOT = "snapshot"
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ARGUMENTS: dict[str, dict[str, Any]] = {
    "thread_id": {
        "type": "string",
        "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$",
        "description": "The thread to store the snapshot in",
    },
    "goal": {
        "type": "string",
        "maxLength": 1024,
        "description": "What the thread is for (default: the thread's last goal)",
    },
    "persona": {
        "type": "string",
        "maxLength": 64,
        "description": "generalist, senior-backend-dev, frontend-dev, ...",
    },
}


def snapshot_tool() -> Any:
    from mcp import types

    return types.Tool(
        name=SNAPSHOT,
        title="Snapshot this repository",
        description="Collect the git repository this server runs in (commits, changes, "
        "TODO/FIXME markers, what the project is) as `dockhand snapshot` does, secrets "
        "scrubbed, and store it in a thread (POST /hydrate). Needs a creator key.",
        input_schema={
            "type": "object",
            "properties": _ARGUMENTS,
            "required": ["thread_id"],
            "additionalProperties": False,
        },
        annotations=types.ToolAnnotations(
            title="Snapshot this repository",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )


def _argument_error(arguments: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) of the first bad argument, with the API's wording, or None."""
    for name in arguments:
        if name not in _ARGUMENTS:
            return name, "unknown field"
    thread_id = arguments.get("thread_id")
    if thread_id is None:
        return "thread_id", "required"
    if not isinstance(thread_id, str) or not _SLUG.fullmatch(thread_id):
        return "thread_id", "must be a slug: 1-64 of a-z 0-9 . _ -, starting with a letter or digit"
    for name in ("goal", "persona"):
        value = arguments.get(name)
        limit = _ARGUMENTS[name]["maxLength"]
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return name, f"must be a string of at most {limit} characters"
    return None


def _tool_result(body: dict[str, Any], is_error: bool) -> Any:
    from mcp import types

    text = json.dumps(body, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=body,
        is_error=is_error,
    )


def _error(code: str, message: str, details: list[dict[str, str]] | None = None) -> Any:
    return _tool_result(
        {"error": {"code": code, "message": message, "details": details or []}}, True
    )


def run_snapshot(arguments: dict[str, Any]) -> Any:
    """The `snapshot` tool: a CallToolResult, errors as tool results (isError)."""
    from tools.cli.collect import GitError
    from tools.cli.snapshot import post_snapshot

    bad = _argument_error(arguments)
    if bad is not None:
        field, message = bad
        details = [{"field": field, "message": message}]
        return _error("validation_error", "The request is not valid.", details)
    try:
        created, redacted = post_snapshot(
            Path.cwd(),
            thread_id=arguments["thread_id"],
            goal=arguments.get("goal") or None,
            persona=arguments.get("persona") or None,
        )
    except GitError as error:
        return _error("not_a_repository", f"git: {error}")
    except CliError as error:
        return _error("api_error", str(error))
    if redacted:
        created = {**created, "scrubbed": redacted}
    return _tool_result(created, False)
