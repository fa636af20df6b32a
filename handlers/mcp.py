"""Function `mcp`: POST /mcp, the Model Context Protocol over Streamable HTTP (stateless,
JSON responses); GET and DELETE /mcp answer 405 (no SSE stream, no session to end).

The protocol lives in common.mcp.protocol, its HTTP binding (the checks before the body
is read, the status of each outcome) in common.mcp.transport.  Auth and rate limiting
are the dispatcher's, as on every route (a batch of N messages is charged N - 1 more
requests here; 429 when they do not fit): no key → 401 (the house envelope); a viewer
may call every tool but add_note (whose result then says forbidden, isError true).
"""

from __future__ import annotations

from common.access import ratelimit
from common.api import Response, RouteTable, http_handler
from common.mcp import openapi, protocol, transport
from common.runtime.http import Request

routes = RouteTable()


@routes.post("/mcp", ok={200: openapi.REPLY, 202: None}, doc=openapi.POST)
def post_mcp(request: Request) -> Response:
    """Model Context Protocol (Streamable HTTP, stateless, JSON responses)

    A request is answered 200 with its JSON-RPC response (errors about a well-formed
    request too, except that 2026-07-28 answers invalid params and header mismatches 400
    and an unknown method 404); notifications and responses 202 with no body; a body
    that is not JSON or not a JSON-RPC message 400. Tools: rehydrate, list_threads,
    list_snapshots, get_notes, add_note (creator). See docs/mcp.md.
    """
    refused = transport.refusal(request)
    if refused is not None:
        return refused
    principal = request.principal
    if principal is None:  # pragma: no cover - the dispatcher authenticates this route
        raise RuntimeError("POST /mcp without a principal")
    outcome = protocol.handle(
        request.body,
        principal,
        request.headers,
        charge=lambda units: ratelimit.charge(principal, units),
    )
    return transport.answer(outcome)


# GET and DELETE need no key: they answer 405 to everyone and show nothing.
@routes.get("/mcp", auth="none", ok={405: openapi.REFUSAL})
def get_mcp(request: Request) -> Response:
    """No server-sent event stream: 405

    The server is stateless and sends nothing unasked; POST instead.
    """
    return transport.method_not_allowed("this stateless server opens no event stream")


@routes.delete("/mcp", auth="none", ok={405: openapi.REFUSAL})
def delete_mcp(request: Request) -> Response:
    """No session to end: 405

    The server is stateless: it never issues an Mcp-Session-Id.
    """
    return transport.method_not_allowed("this stateless server has no session to end")


ROUTES = routes.table
handler = http_handler("mcp", ROUTES)
