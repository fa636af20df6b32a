"""JSON-RPC 2.0 for MCP, stateless: one POST body in, what to answer out.

Protocol revisions (newest first) are the handshake-era ones this server speaks:
`initialize` answers the client's version when it is one of them, else the newest
(2025-06-18 basic/lifecycle "Version Negotiation").  Every later request names its
version in the `MCP-Protocol-Version` header; no header means 2025-03-26 (transports
"Protocol Version Header"), an unknown one is refused.  Nothing is remembered between
requests: the header is the only state, so any function instance answers any request.

Batches (a JSON array) exist only in 2025-03-26; 2025-06-18 removed them, so an array
under a newer version is refused.  A batch holds at most MAX_BATCH messages and each
one is a request to the key's rate limit (the caller's `charge` takes the N - 1 the
dispatcher did not count), so a batch is never a way around either.  Notifications
and the client's responses are accepted without a reply (HTTP 202).  A body that is
not JSON, or not a JSON-RPC message, is refused as a whole (HTTP 400, as the SDK's
own server does), with a JSON-RPC error whose id is null; an error about a
well-formed request (unknown method, bad params, our own failure) is an ordinary
JSON-RPC response.

Revision 2026-07-28 removed the handshake: every request carries its version, client
capabilities and info in `params._meta`, mirrored in headers (`MCP-Protocol-Version`,
`Mcp-Method`, `Mcp-Name`) that must agree with the body (else -32020 HeaderMismatch);
`server/discover` replaces `initialize`; `ping` is gone; every result says
`resultType: "complete"`, and list/read results carry cache hints (`ttlMs`,
`cacheScope`).  A request whose MCP-Protocol-Version header names that revision is
served that way ("dual-era" server, versioning "Backward Compatibility"); an unknown
version is refused with -32022 and the versions served, so a client can pick one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from common import __version__
from common.mcp import catalog
from common.mcp.errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RESOURCE_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    RpcError,
)
from common.mcp.replies import JsonRpcReply, JsonRpcResponse, RequestId
from common.runtime.errors import ApiError, InvalidJson
from common.runtime.http import Principal, loads_strict
from common.runtime.observability import add_log_keys, logger
from common.store.failures import classify

SUPPORTED_VERSIONS: tuple[str, ...] = ("2025-11-25", "2025-06-18", "2025-03-26")  # handshake
MODERN_VERSIONS: tuple[str, ...] = ("2026-07-28",)  # per-request _meta, no handshake
ALL_VERSIONS: tuple[str, ...] = (*MODERN_VERSIONS, *SUPPORTED_VERSIONS)
LATEST_VERSION = SUPPORTED_VERSIONS[0]  # what initialize offers a client it cannot match
HEADERLESS_VERSION = "2025-03-26"
VERSION_HEADER, METHOD_HEADER, NAME_HEADER = "mcp-protocol-version", "mcp-method", "mcp-name"
BATCH_VERSIONS = frozenset({"2025-03-26"})
MAX_BATCH = 20  # messages in one JSON-RPC batch (CONTRACT Part 3, "Batches count")
SERVER_INFO = {"name": "dockhand", "title": "dockhand context", "version": __version__}
CAPABILITIES = {
    "tools": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "prompts": {"listChanged": False},
}
INSTRUCTIONS = (
    "dockhand keeps the state of work threads (snapshots of a project, notes). "
    "Call list_threads to find a thread, rehydrate to read its context document, "
    "get_notes for its notes and add_note to record a decision, question or todo. "
    "The resume prompt starts a session from a thread's newest document."
)

Json = Any


@dataclass(frozen=True)
class Outcome:
    """What to answer: `reply` (a JSON-RPC response or batch of them), `accepted`
    (nothing to say: notifications and responses only), or `rejected` (the body as a
    whole could not be accepted; `body` is the JSON-RPC error to show)."""

    kind: Literal["reply", "accepted", "rejected"]
    body: JsonRpcReply | None = None
    modern: bool = False  # served under 2026-07-28 (whose HTTP binding maps error codes)


@dataclass(frozen=True)
class Call:
    principal: Principal
    version: str


# Counts n more requests against the caller's rate limit, or raises (429) when they
# do not fit; the handler passes common.access.ratelimit.charge for its principal.
Charge = Callable[[int], None]


def _free(units: int) -> None:
    """No rate limit (the protocol's own tests)."""


def _error(message_id: RequestId | None, error: RpcError) -> JsonRpcResponse:
    return {"jsonrpc": "2.0", "id": message_id, "error": error.to_json()}


def _rejected(code: int, message: str, data: Any = None) -> Outcome:
    return Outcome("rejected", _error(None, RpcError(code, message, data)))


def handle(
    body: bytes, principal: Principal, headers: Mapping[str, str], charge: Charge = _free
) -> Outcome:
    """Answer one POST body for `principal`; `headers` are the request's, names lower-case.

    The POST itself was counted as one request; `charge` counts the rest of a batch."""
    try:
        # The API's one strict parser: NaN, Infinity and 1e400 are not JSON here either.
        message = loads_strict(body)
    except InvalidJson:
        return _rejected(PARSE_ERROR, "Parse error: the body is not JSON.")
    _log_what(message)
    header_version = headers.get(VERSION_HEADER)
    # initialize carries its version in the body, and always means the handshake era.
    if header_version in MODERN_VERSIONS and not _is_initialize(message):
        return _modern(message, Call(principal, header_version), headers)
    if header_version not in (None, *SUPPORTED_VERSIONS) and not _is_initialize(message):
        return _rejected(*_unsupported_version(header_version))
    version = header_version or HEADERLESS_VERSION
    call = Call(principal, version)
    if isinstance(message, list):
        return _batch(message, call, charge)
    reply, malformed = _one(message, call, in_batch=False)
    if malformed:
        return Outcome("rejected", reply)
    return Outcome("accepted") if reply is None else Outcome("reply", reply)


def _log_what(message: Json) -> None:
    """Put the JSON-RPC method(s) and the tool, prompt or resource named on this
    invocation's log lines (the dispatcher's "request" line among them); never the
    arguments, which are the client's data."""
    messages = message if isinstance(message, list) else [message]
    methods = [str(m.get("method"))[:64] for m in messages[:10] if isinstance(m, dict)]
    keys: dict[str, object] = {"mcp_method": ",".join(methods)}
    if isinstance(message, dict) and isinstance(message.get("params"), dict):
        named = message["params"].get("name") or message["params"].get("uri")
        if isinstance(named, str):
            keys["mcp_name"] = named[:128]
    add_log_keys(**keys)


def _unsupported_version(requested: Json) -> tuple[int, str, dict[str, Any]]:
    return (
        UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported protocol version {requested!r}.",
        {"supported": list(ALL_VERSIONS), "requested": requested},
    )


def _is_initialize(message: Json) -> bool:
    return isinstance(message, dict) and message.get("method") == "initialize"


def _batch(messages: list[Json], call: Call, charge: Charge) -> Outcome:
    if call.version not in BATCH_VERSIONS:
        return _rejected(
            INVALID_REQUEST,
            f"Protocol version {call.version} has no JSON-RPC batches (only 2025-03-26 had them); "
            "send one message per POST.",
        )
    if not messages:
        return _rejected(INVALID_REQUEST, "Invalid Request: the batch is empty.")
    if len(messages) > MAX_BATCH:
        return _rejected(
            INVALID_REQUEST,
            f"Invalid Request: a batch holds at most {MAX_BATCH} messages "
            f"(this one has {len(messages)}); send the rest in further requests.",
        )
    charge(len(messages) - 1)  # each message is a request; the POST counted as one
    replies: list[JsonRpcResponse] = []
    malformed_count = 0
    for message in messages:
        reply, malformed = _one(message, call, in_batch=True)
        malformed_count += malformed
        if reply is not None:
            replies.append(reply)
    if malformed_count == len(messages):
        return Outcome("rejected", replies)  # nothing in it could be accepted
    return Outcome("reply", replies) if replies else Outcome("accepted")


def _one(message: Json, call: Call, *, in_batch: bool) -> tuple[JsonRpcResponse | None, bool]:
    """(the reply or None, whether the message was not a JSON-RPC message at all)."""
    problem = _envelope_problem(message)
    if problem:
        return _error(None, RpcError(INVALID_REQUEST, f"Invalid Request: {problem}")), True
    if "method" not in message or "id" not in message:
        return None, False  # a notification, or a response to a request we never send
    message_id = message["id"]
    try:
        if in_batch and message["method"] == "initialize":
            raise RpcError(INVALID_REQUEST, "initialize must not be part of a JSON-RPC batch.")
        result = _dispatch(message["method"], message.get("params"), call)
    except RpcError as error:
        return _error(message_id, error), False
    except Exception as exc:  # one failed request must not take the others with it
        return _error(message_id, _internal(exc)), False
    return {"jsonrpc": "2.0", "id": message_id, "result": result}, False


def _envelope_problem(message: Json) -> str:
    """Why `message` is not a JSON-RPC 2.0 request, notification or response ("" if it is)."""
    if not isinstance(message, dict):
        return "a JSON-RPC message is a JSON object."
    checks = (
        (message.get("jsonrpc") == "2.0", 'jsonrpc must be "2.0".'),
        ("id" not in message or _valid_id(message["id"]), _BAD_ID),
        ("method" not in message or isinstance(message["method"], str), "method must be a string."),
        ("method" in message or _is_response(message), _NOT_A_MESSAGE),
    )
    return next((problem for passed, problem in checks if not passed), "")


_BAD_ID = "id must be a string or an integer (MCP forbids null)."
_NOT_A_MESSAGE = "neither a request, a notification nor a response."


def _is_response(message: dict[str, Any]) -> bool:
    """The client's answer to a server request: an id and exactly one of result / error."""
    return "id" in message and ("result" in message) != ("error" in message)


def _valid_id(value: Json) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _internal(exc: Exception) -> RpcError:
    """Our failure as -32603; the cause goes to the log, never to the client."""
    if isinstance(exc, ApiError):
        logger.error("mcp request failed", extra={"code": exc.code, "cause": repr(exc)})
        return RpcError(INTERNAL_ERROR, exc.message, {"code": exc.code})
    error = classify(exc, unhandled="unhandled mcp error")
    return RpcError(INTERNAL_ERROR, error.message, {"code": error.code})


# --- methods -------------------------------------------------------------------------------

Method = Callable[[Mapping[str, Any], Call], Json]


def _dispatch(method: str, params: Json, call: Call) -> Json:
    handler = METHODS.get(method)
    if handler is None:
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object.")
    return handler(params, call)


def _string_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"params.{name} must be a string.")
    return value


def _optional_string_param(params: Mapping[str, Any], name: str) -> str | None:
    return None if params.get(name) is None else _string_param(params, name)


def _object_param(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, f"params.{name} must be an object.")
    return value


def _initialize(params: Mapping[str, Any], call: Call) -> Json:
    requested = _string_param(params, "protocolVersion")
    _object_param(params, "capabilities")
    _object_param(params, "clientInfo")
    version = requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": INSTRUCTIONS,
    }


def _ping(params: Mapping[str, Any], call: Call) -> Json:
    return {}


def _no_cursor(params: Mapping[str, Any]) -> None:
    """Lists that fit one page: any cursor is one we never issued."""
    if _optional_string_param(params, "cursor") is not None:
        raise RpcError(INVALID_PARAMS, "Invalid cursor: this list has a single page.")


def _tools_list(params: Mapping[str, Any], call: Call) -> Json:
    _no_cursor(params)
    return {"tools": catalog.list_tools()}


def _tools_call(params: Mapping[str, Any], call: Call) -> Json:
    name = _string_param(params, "name")
    return catalog.call_tool(call.principal, name, _object_param(params, "arguments"))


def _resources_list(params: Mapping[str, Any], call: Call) -> Json:
    cursor = _optional_string_param(params, "cursor")
    try:
        return catalog.list_resources(call.principal, cursor)
    except ApiError as error:
        if error.status >= 500:
            raise
        raise catalog.cursor_error(error) from None


def _resource_templates(params: Mapping[str, Any], call: Call) -> Json:
    _no_cursor(params)
    return catalog.list_resource_templates()


def _resources_read(params: Mapping[str, Any], call: Call) -> Json:
    uri = _string_param(params, "uri")
    return catalog.read_resource(call.principal, uri)


def _prompts_list(params: Mapping[str, Any], call: Call) -> Json:
    _no_cursor(params)
    return {"prompts": catalog.list_prompts()}


def _prompts_get(params: Mapping[str, Any], call: Call) -> Json:
    name = _string_param(params, "name")
    return catalog.get_prompt(call.principal, name, _object_param(params, "arguments"))


METHODS: dict[str, Method] = {
    "initialize": _initialize,
    "ping": _ping,
    "tools/list": _tools_list,
    "tools/call": _tools_call,
    "resources/list": _resources_list,
    "resources/templates/list": _resource_templates,
    "resources/read": _resources_read,
    "prompts/list": _prompts_list,
    "prompts/get": _prompts_get,
}


# --- 2026-07-28: per-request metadata, no handshake ----------------------------------------

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
# The request parameter each name-bearing method mirrors in Mcp-Name.
NAMED_BY = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# Cache hints (ttlMs, cacheScope) of the cacheable results.  The catalogue is the same
# for every caller and changes only with a deployment: an hour, shareable.  Resources
# are the tenant's documents and change with every hydrate: never fresh, never shared.
CACHE_HINTS: dict[str, tuple[int, str]] = {
    "server/discover": (3_600_000, "public"),
    "tools/list": (3_600_000, "public"),
    "prompts/list": (3_600_000, "public"),
    "resources/templates/list": (3_600_000, "public"),
    "resources/list": (0, "private"),
    "resources/read": (0, "private"),
}
MODERN_CAPABILITIES: dict[str, Any] = {"tools": {}, "resources": {}, "prompts": {}}
_SENTINEL = re.compile(r"=\?base64\?(?P<payload>[A-Za-z0-9+/]*={0,2})\?=")


def _modern(message: Json, call: Call, headers: Mapping[str, str]) -> Outcome:
    """One 2026-07-28 POST: a single request (or an ignored notification), no batches."""
    problem = _envelope_problem(message) or ("" if "method" in message else _NOT_A_REQUEST)
    if problem:
        error = RpcError(INVALID_REQUEST, f"Invalid Request: {problem}")
        return Outcome("rejected", _error(None, error), modern=True)
    if "id" not in message:
        return Outcome("accepted", modern=True)  # no client notifications exist over HTTP
    message_id = message["id"]
    try:
        _check_modern_envelope(message, headers)
        result = _modern_dispatch(message["method"], message["params"], call)
    except RpcError as error:
        return Outcome("reply", _error(message_id, _modern_error(error)), modern=True)
    except Exception as exc:
        return Outcome("reply", _error(message_id, _internal(exc)), modern=True)
    return Outcome("reply", {"jsonrpc": "2.0", "id": message_id, "result": result}, modern=True)


_NOT_A_REQUEST = "a 2026-07-28 POST carries one request (responses and batches do not exist)."


def _check_modern_envelope(message: dict[str, Any], headers: Mapping[str, str]) -> None:
    """The validation ladder of 2026-07-28 (basic/index, transports "Server Validation"):
    the _meta envelope, then headers against the body, then the version itself."""
    params = message.get("params")
    if not isinstance(params, dict):
        params = {}
    meta = params.get("_meta")
    if not isinstance(meta, dict) or META_VERSION not in meta or META_CAPABILITIES not in meta:
        raise RpcError(
            INVALID_PARAMS, f"params._meta must carry {META_VERSION} and {META_CAPABILITIES}."
        )
    method = message["method"]
    if headers.get(VERSION_HEADER) != meta[META_VERSION]:
        raise RpcError(HEADER_MISMATCH, "MCP-Protocol-Version does not match params._meta.")
    if headers.get(METHOD_HEADER) != method:
        raise RpcError(HEADER_MISMATCH, "Mcp-Method does not match the request's method.")
    named = NAMED_BY.get(method)
    body_name = params.get(named) if named else None
    if body_name is not None and _decode_header(headers.get(NAME_HEADER)) != body_name:
        raise RpcError(HEADER_MISMATCH, f"Mcp-Name does not match params.{named}.")
    if meta[META_VERSION] not in MODERN_VERSIONS:
        raise RpcError(*_unsupported_version(meta[META_VERSION]))


def _decode_header(value: str | None) -> str | None:
    """A header value, its `=?base64?…?=` form decoded (None when it is not valid)."""
    if value is None:
        return None
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value
    try:
        return base64.b64decode(match["payload"], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _modern_dispatch(method: str, params: dict[str, Any], call: Call) -> Json:
    handler = MODERN_METHODS.get(method)
    if handler is None:
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    result: dict[str, Any] = handler(params, call)
    result = {**result, "resultType": "complete"}
    result["_meta"] = {**result.get("_meta", {}), META_SERVER_INFO: SERVER_INFO}
    if method in CACHE_HINTS:
        result["ttlMs"], result["cacheScope"] = CACHE_HINTS[method]
    return result


def _modern_error(error: RpcError) -> RpcError:
    """2026-07-28 answers a missing resource with -32602 (changelog, minor change 6)."""
    if error.code == RESOURCE_NOT_FOUND:
        return RpcError(INVALID_PARAMS, error.message, error.data)
    return error


def _discover(params: Mapping[str, Any], call: Call) -> Json:
    return {
        "supportedVersions": list(ALL_VERSIONS),
        "capabilities": MODERN_CAPABILITIES,
        "instructions": INSTRUCTIONS,
    }


MODERN_METHODS: dict[str, Method] = {
    "server/discover": _discover,
    **{name: method for name, method in METHODS.items() if name not in ("initialize", "ping")},
}
