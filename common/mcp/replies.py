"""What POST /mcp answers, as typed views: a JSON-RPC 2.0 response (a result or an
error), a 2025-03-26 batch of them, and the refusal of a body as a whole.

`protocol` builds these dicts (and `errors.RpcError.to_json` the error object); the
views let mypy check every one of them, and the OpenAPI document derive its schemas from
them (`TypeAdapter`, at build time only) like every other response view.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from pydantic.config import JsonDict

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

# A request's id: MCP forbids null, so a response carries the request's own; an error
# about a message whose id could not be read carries null.
RequestId = str | int


@with_config(ConfigDict(extra="forbid", title="JsonRpcErrorObject"))
class JsonRpcErrorObject(TypedDict):
    code: int
    message: str
    data: NotRequired[Any]  # absent when there is nothing to add


# Exactly one of result and error (JSON-RPC 2.0 section 5): stated in the schema, and
# kept by the builders (protocol: the reply of a request, or _error).
_RESULT_OR_ERROR: JsonDict = {"oneOf": [{"required": ["result"]}, {"required": ["error"]}]}


@with_config(
    ConfigDict(extra="forbid", title="JsonRpcResponse", json_schema_extra=_RESULT_OR_ERROR)
)
class JsonRpcResponse(TypedDict):
    jsonrpc: Literal["2.0"]
    id: RequestId | None
    result: NotRequired[dict[str, Any]]
    error: NotRequired[JsonRpcErrorObject]


# 200: one response, or the responses to a 2025-03-26 batch (a batch of notifications
# only has none: 202 without a body).
JsonRpcReply = JsonRpcResponse | list[JsonRpcResponse]
# 400 (and the transport's 403, 404, 405, 406, 415): the body refused as a whole, a
# JSON-RPC error with a null id, or, for a 2025-03-26 batch of which nothing was a
# message, one such error per element.
JsonRpcRefusal = JsonRpcResponse | list[JsonRpcResponse]
