"""How the OpenAPI document shows the MCP routes (plain data, read only by
tools/gen/openapi.py): POST /mcp's body is JSON-RPC, and its answers (and its refusals,
and GET's and DELETE's 405) are JSON-RPC messages, not the house error envelope."""

from __future__ import annotations

from common.mcp import protocol, replies
from common.runtime.routedoc import Extras, Named, Param, Schema, ref

_JSONRPC_ID: Schema = {"type": ["string", "integer"]}
_JSONRPC_MESSAGE: Schema = {
    "anyOf": [
        {
            "type": "object",
            "title": "request or notification",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": _JSONRPC_ID,
                "method": {"type": "string", "minLength": 1},
                "params": {"type": "object"},
            },
        },
        {
            "type": "object",
            "title": "response",
            "required": ["jsonrpc", "id"],
            "properties": {"jsonrpc": {"const": "2.0"}, "id": _JSONRPC_ID, "result": {}},
        },
    ]
}

# The answers' shapes come from the views protocol builds them with (common.mcp.replies);
# only the reply/refusal unions are named here, because a union has no title of its own.
_RESPONSE: dict[str, Schema | type] = {"JsonRpcResponse": replies.JsonRpcResponse}

REPLY = Named(
    "JsonRpcReply",
    {
        "description": "A JSON-RPC response (result or error), or an array of them answering "
        "a 2025-03-26 batch.",
        "anyOf": [ref("JsonRpcResponse"), {"type": "array", "items": ref("JsonRpcResponse")}],
    },
    refers_to=_RESPONSE,
)

REFUSAL = Named(
    "JsonRpcRefusal",
    {
        "description": "The body as a whole was refused: a JSON-RPC error with a null id "
        "(or, for a 2025-03-26 batch of which nothing was a message, one per element).",
        "anyOf": [ref("JsonRpcResponse"), {"type": "array", "items": ref("JsonRpcResponse")}],
    },
    refers_to=_RESPONSE,
)

POST = Extras(
    params=(
        Param(
            "MCP-Protocol-Version",
            {"enum": list(protocol.ALL_VERSIONS)},
            where="header",
            description="The revision in use (2026-07-28: also in params._meta, with "
            "Mcp-Method and Mcp-Name); absent means 2025-03-26.",
        ),
    ),
    raw_body={
        "description": "One JSON-RPC 2.0 message: a request, a notification or a "
        "response; an array of 1 to 20 of them is a batch (2025-03-26 only).",
        "anyOf": [
            _JSONRPC_MESSAGE,
            {"type": "array", "minItems": 1, "maxItems": 20, "items": _JSONRPC_MESSAGE},
        ],
    },
    own_errors={
        400: (
            REFUSAL,
            "Not JSON (-32700), not a JSON-RPC message (-32600), a batch after "
            "2025-03-26, or an unsupported MCP-Protocol-Version (-32600)",
        ),
        403: (REFUSAL, "An Origin header not in DOCKHAND_MCP_ALLOWED_ORIGINS"),
        404: (REFUSAL, "2026-07-28 only: method not found (-32601)"),
        406: (REFUSAL, "Accept excludes application/json"),
        415: (REFUSAL, "Content-Type is not application/json"),
    },
)
