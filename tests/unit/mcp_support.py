"""POST /mcp test support: one JSON-RPC message through the Lambda handler and the
readers of a tool's answer (shared by the MCP and document reader tests)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ApiClient, Result

VERSION = {"MCP-Protocol-Version": "2025-06-18"}


def post(api: ApiClient, key: str | None, message: Any, **headers: str) -> Result:
    return api.post("/mcp", key=key, json_body=message, headers={**VERSION, **headers})


def rpc(api: ApiClient, key: str, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        message["params"] = params
    result = post(api, key, message)
    assert result.status == 200, result.text
    assert result.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = result.json
    assert body["id"] == 7
    return body


def call(api: ApiClient, key: str, tool: str, **arguments: Any) -> dict[str, Any]:
    result: dict[str, Any] = rpc(api, key, "tools/call", {"name": tool, "arguments": arguments})[
        "result"
    ]
    return result


def text_of(result: dict[str, Any]) -> str:
    assert [block["type"] for block in result["content"]] == ["text"]
    return str(result["content"][0]["text"])


def tool_error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["isError"] is True
    error: dict[str, Any] = json.loads(text_of(result))["error"]
    assert result["structuredContent"] == {"error": error}
    return error


def http_error(result: Result) -> dict[str, Any]:
    error: dict[str, Any] = result.json["error"]
    return {k: error[k] for k in ("code", "message", "details")}
