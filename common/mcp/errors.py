"""JSON-RPC 2.0 error codes and the one exception that carries them.

-32700..-32600 are JSON-RPC's own; -32002 is MCP's "resource not found" (2025-06-18
and 2025-11-25, server/resources "Error Handling"); -32020 and -32022 are 2026-07-28's
(basic/index "Error Codes").
"""

from __future__ import annotations

from typing import Any

from common.mcp.replies import JsonRpcErrorObject

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002  # 2025-06-18 and 2025-11-25; 2026-07-28 uses INVALID_PARAMS
HEADER_MISMATCH = -32020  # 2026-07-28: headers disagree with the body
UNSUPPORTED_PROTOCOL_VERSION = -32022  # 2026-07-28: with data {"supported", "requested"}


class RpcError(Exception):
    """A JSON-RPC error response: code, a safe message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> JsonRpcErrorObject:
        error: JsonRpcErrorObject = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error
