"""POST /mcp's HTTP binding (Streamable HTTP, stateless, JSON responses): what the
transport checks before the protocol reads the body, and how an outcome of
common.mcp.protocol becomes an HTTP answer.

A reply → 200 application/json (under 2026-07-28 some errors take the status its HTTP
binding names), notifications and responses → 202 with no body, a body refused as a
whole → 400 with the JSON-RPC error; a browser Origin not allowed → 403, an Accept
without JSON → 406, a non-JSON Content-Type → 415.
"""

from __future__ import annotations

from typing import Any

from common.mcp import protocol
from common.mcp.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from common.runtime.config import settings
from common.runtime.http import Request, empty_response, json_response

Response = dict[str, Any]
_JSON = "application/json"


def _accepts_json(accept: str | None) -> bool:
    """Whether the client takes application/json (a missing Accept takes anything).  The
    spec has clients list application/json and text/event-stream; this server answers
    JSON only, so JSON, or a wildcard covering it, not refused with q=0, is what it needs."""
    if accept is None:
        return True
    for part in accept.split(","):
        media_range, *parameters = (piece.strip().lower() for piece in part.split(";"))
        refused = any(
            p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in parameters
        )
        if media_range in (_JSON, "application/*", "*/*") and not refused:
            return True
    return False


def _jsonrpc_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    return json_response(status, body, headers)


def _origin_allowed(origin: str | None) -> bool:
    """The transport's DNS-rebinding guard: a request with an Origin header (a browser)
    is served only from an origin listed in DOCKHAND_MCP_ALLOWED_ORIGINS; MCP clients
    that are not browsers send none."""
    return origin is None or origin in settings().mcp_allowed_origins


def refusal(request: Request) -> Response | None:
    """The answer to a request the transport refuses before the body is read, else None."""
    if not _origin_allowed(request.header("origin")):
        return _jsonrpc_error(
            403,
            "Forbidden: this Origin may not call the MCP endpoint; allow it by adding it to "
            "DOCKHAND_MCP_ALLOWED_ORIGINS (comma-separated origins, e.g. https://app.example.com).",
        )
    content_type = request.header("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() != _JSON:
        return _jsonrpc_error(415, "Unsupported Media Type: send the body as application/json.")
    if not _accepts_json(request.header("accept")):
        return _jsonrpc_error(406, "Not Acceptable: this server answers application/json.")
    return None


def answer(outcome: protocol.Outcome) -> Response:
    """The HTTP answer carrying the protocol's outcome."""
    if outcome.kind == "accepted":
        return empty_response(202)
    if outcome.kind == "rejected":
        return json_response(400, outcome.body)
    return json_response(_reply_status(outcome), outcome.body)


# 2026-07-28's HTTP binding gives some JSON-RPC errors an HTTP status of their own
# (transports "Protocol Version Header", "Server Validation"; the SDK's table alike);
# the handshake-era revisions answer every reply 200.
MODERN_ERROR_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}


def _reply_status(outcome: protocol.Outcome) -> int:
    error = outcome.body.get("error") if isinstance(outcome.body, dict) else None
    if not outcome.modern or error is None:
        return 200
    return MODERN_ERROR_STATUS.get(error["code"], 200)


def method_not_allowed(what: str) -> Response:
    """405 for GET and DELETE: no event stream, no session (only POST carries messages)."""
    message = f"Method Not Allowed: {what}; POST JSON-RPC messages to this endpoint."
    return _jsonrpc_error(405, message, {"Allow": "POST"})
