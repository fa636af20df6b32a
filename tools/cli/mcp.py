"""`dockhand mcp`: the dockhand MCP server over stdio, for assistants that start a command.

Built on the official MCP Python SDK (`mcp`, a CLI dependency: never in the Lambda
layer).  It serves the same tools, resources and prompts as `POST /mcp` by forwarding
each request there with the SDK's Streamable HTTP client, authenticated with
`DOCKHAND_API_KEY` at `DOCKHAND_URL` (or the running `make run`): one definition of
the tools, and the API's rules (roles, tenants, rate limits, validation) apply as
they do over HTTP.  Nothing but MCP messages goes to stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack
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
        return await upstream.list_tools(cursor=_cursor(params))

    async def call_tool(ctx: Any, params: Any) -> Any:
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
