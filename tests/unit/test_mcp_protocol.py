"""The MCP protocol core in-process, no network and no AWS: the JSON-RPC envelope,
batches, notifications, version negotiation, the method table and the tool schemas."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from common.context import notes
from common.mcp import catalog, protocol
from common.runtime.http import Principal
from common.runtime.slug import SLUG_PATTERN

CREATOR = Principal(tenant="acme", role="creator", key_id="k" * 16)
INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}}


def handle(message: Any, version: str | None = "2025-06-18", **headers: str) -> protocol.Outcome:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    all_headers = {"mcp-protocol-version": version} if version else {}
    all_headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return protocol.handle(body, CREATOR, all_headers)


def request(method: str, params: Any = None, message_id: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def error_of(outcome: protocol.Outcome) -> dict[str, Any]:
    error: dict[str, Any] = outcome.body["error"]
    return error


# --- the envelope ---------------------------------------------------------------------------


def test_not_json_is_a_parse_error_refused_whole() -> None:
    outcome = handle(b'{"jsonrpc": "2.0", "id": 1, ')
    assert outcome.kind == "rejected"
    assert outcome.body["id"] is None
    assert error_of(outcome)["code"] == -32700


@pytest.mark.parametrize(
    "message",
    [
        "just a string",
        42,
        {"id": 1, "method": "ping"},  # no jsonrpc
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},  # MCP forbids a null id
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        {"jsonrpc": "2.0", "id": [1], "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        {"jsonrpc": "2.0", "id": 1},  # neither request nor response
        {"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "x"}},
        {},
    ],
)
def test_invalid_requests_are_refused_with_minus_32600(message: Any) -> None:
    outcome = handle(message)
    assert outcome.kind == "rejected"
    assert error_of(outcome)["code"] == -32600
    assert outcome.body["id"] is None


def test_notifications_and_client_responses_are_accepted_without_reply() -> None:
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "method": "no/such/notification"},
        {"jsonrpc": "2.0", "id": "s-1", "result": {}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "refused"}},
    ):
        assert handle(message) == protocol.Outcome("accepted"), message


def test_ping_and_string_ids_are_echoed() -> None:
    outcome = handle(request("ping", message_id="abc"))
    assert outcome == protocol.Outcome("reply", {"jsonrpc": "2.0", "id": "abc", "result": {}})


def test_unknown_method_is_minus_32601_as_a_reply() -> None:
    outcome = handle(request("resources/subscribe", {"uri": "x"}))
    assert outcome.kind == "reply"
    assert outcome.body["id"] == 1
    assert error_of(outcome)["code"] == -32601


@pytest.mark.parametrize("params", [[1, 2], "x", 3])
def test_params_that_are_not_an_object_are_minus_32602(params: Any) -> None:
    outcome = handle(request("ping", params))
    assert outcome.kind == "reply"
    assert error_of(outcome)["code"] == -32602


# --- versions -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_initialize_answers_a_supported_version_with_itself(version: str) -> None:
    outcome = handle(request("initialize", {**INIT_PARAMS, "protocolVersion": version}), None)
    result = outcome.body["result"]
    assert result["protocolVersion"] == version
    assert set(result["capabilities"]) == {"tools", "resources", "prompts"}
    assert result["serverInfo"]["name"] == "dockhand"


@pytest.mark.parametrize("version", ["2024-11-05", "2099-01-01", "2026-07-28", "latest"])
# 2026-07-28 has no handshake: an initialize naming it is answered with the newest handshake.
def test_initialize_answers_an_unknown_version_with_the_latest(version: str) -> None:
    params = {**INIT_PARAMS, "protocolVersion": version}
    outcome = handle(request("initialize", params), version)  # its header is not consulted
    assert outcome.body["result"]["protocolVersion"] == protocol.LATEST_VERSION == "2025-11-25"


@pytest.mark.parametrize(
    "params", [{}, {"protocolVersion": 20250618}, {**INIT_PARAMS, "capabilities": []}]
)
def test_initialize_with_bad_params_is_minus_32602(params: dict[str, Any]) -> None:
    assert error_of(handle(request("initialize", params)))["code"] == -32602


def test_an_unsupported_version_header_is_refused_naming_the_versions_served() -> None:
    outcome = handle(request("tools/list"), "2099-01-01")
    assert outcome.kind == "rejected"
    error = error_of(outcome)
    assert error["code"] == -32022
    assert error["data"] == {
        "supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"],
        "requested": "2099-01-01",
    }


def test_no_version_header_means_2025_03_26_which_allows_batches() -> None:
    batch = [request("ping", message_id=1), {"jsonrpc": "2.0", "method": "notifications/x"}]
    outcome = handle(batch, None)
    assert outcome == protocol.Outcome("reply", [{"jsonrpc": "2.0", "id": 1, "result": {}}])


# --- batches --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_batches_are_refused_after_2025_03_26(version: str) -> None:
    outcome = handle([request("ping")], version)
    assert outcome.kind == "rejected"
    assert error_of(outcome)["code"] == -32600
    assert "batch" in error_of(outcome)["message"]


def test_a_2025_03_26_batch_answers_each_request_in_order() -> None:
    batch = [
        request("ping", message_id=1),
        request("no/such", message_id=2),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        "not a message",
        request("tools/list", message_id=3),
        request("initialize", INIT_PARAMS, message_id=4),
    ]
    outcome = handle(batch, "2025-03-26")
    assert outcome.kind == "reply"
    replies = outcome.body
    assert [reply["id"] for reply in replies] == [1, 2, None, 3, 4]
    assert replies[0]["result"] == {}
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["error"]["code"] == -32600
    assert [tool["name"] for tool in replies[3]["result"]["tools"]] == list(catalog.TOOLS)
    assert replies[4]["error"]["code"] == -32600  # initialize must not be batched


def test_a_batch_of_notifications_only_is_accepted() -> None:
    batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    assert handle(batch, "2025-03-26") == protocol.Outcome("accepted")


def test_an_empty_batch_or_one_of_junk_is_refused() -> None:
    assert handle([], "2025-03-26").kind == "rejected"
    junk = handle([1, "two", {}], "2025-03-26")
    assert junk.kind == "rejected"
    assert [reply["error"]["code"] for reply in junk.body] == [-32600] * 3


# --- the catalogue --------------------------------------------------------------------------


def test_tools_list_names_every_tool_with_an_object_schema() -> None:
    tools = handle(request("tools/list")).body["result"]["tools"]
    assert [tool["name"] for tool in tools] == [
        "rehydrate",
        "list_threads",
        "list_snapshots",
        "get_notes",
        "search_notes",
        "add_note",
    ]
    for tool in tools:
        schema = tool["inputSchema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert tool["annotations"]["readOnlyHint"] is (tool["name"] != "add_note")


def test_add_note_schema_is_the_post_notes_model() -> None:
    tools = {tool["name"]: tool for tool in catalog.list_tools()}
    schema = tools["add_note"]["inputSchema"]
    model_schema = notes.NoteIn.model_json_schema()
    assert schema["properties"].keys() == model_schema["properties"].keys()
    assert schema["required"] == ["thread_id", "text"]
    assert schema["properties"]["thread_id"]["pattern"] == SLUG_PATTERN


def test_reading_tools_document_the_routes_rules() -> None:
    tools = {tool["name"]: tool["inputSchema"] for tool in catalog.list_tools()}
    assert tools["get_notes"]["required"] == ["thread_id"]
    assert tools["get_notes"]["properties"]["kind"]["enum"] == list(notes.NOTE_KINDS)
    assert tools["list_threads"]["properties"]["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
    }
    assert tools["rehydrate"]["properties"]["max_tokens"]["minimum"] == 200


def test_unknown_tool_is_a_protocol_error() -> None:
    outcome = handle(request("tools/call", {"name": "drop_tables", "arguments": {}}))
    assert error_of(outcome) == {"code": -32602, "message": "Unknown tool: drop_tables"}


@pytest.mark.parametrize("params", [{}, {"name": 3}, {"name": "list_threads", "arguments": [1]}])
def test_tools_call_with_malformed_params_is_minus_32602(params: dict[str, Any]) -> None:
    assert error_of(handle(request("tools/call", params)))["code"] == -32602


@pytest.mark.parametrize("method", ["tools/list", "prompts/list", "resources/templates/list"])
def test_single_page_lists_refuse_a_cursor(method: str) -> None:
    assert error_of(handle(request(method, {"cursor": "abc"})))["code"] == -32602
    assert "result" in handle(request(method, {})).body


def test_templates_and_prompts_are_listed() -> None:
    templates = handle(request("resources/templates/list")).body["result"]["resourceTemplates"]
    assert templates[0]["uriTemplate"] == "dockhand://threads/{thread_id}/rehydrate"
    assert templates[0]["mimeType"] == "text/markdown"
    prompts = handle(request("prompts/list")).body["result"]["prompts"]
    assert prompts[0]["name"] == "resume"
    assert [(a["name"], a["required"]) for a in prompts[0]["arguments"]] == [
        ("thread_id", True),
        ("max_tokens", False),
    ]


@pytest.mark.parametrize(
    "uri",
    [
        "dockhand://threads/Not A Slug/rehydrate",
        "https://example.com/",
        "dockhand://threads//rehydrate",
    ],
)
def test_resources_outside_the_template_are_not_found(uri: str) -> None:
    error = error_of(handle(request("resources/read", {"uri": uri})))
    assert error == {"code": -32002, "message": "Resource not found", "data": {"uri": uri}}


def test_unknown_prompt_is_minus_32602() -> None:
    outcome = handle(request("prompts/get", {"name": "summon", "arguments": {}}))
    assert error_of(outcome) == {"code": -32602, "message": "Unknown prompt: summon"}


# --- 2026-07-28 -----------------------------------------------------------------------------

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
}


def modern(method: str, params: dict[str, Any] | None = None, **headers: str) -> protocol.Outcome:
    message = request(method, {**(params or {}), "_meta": META})
    headers.setdefault("mcp_method", method)
    return handle(message, MODERN, **headers)


def test_modern_discover_names_every_version_served() -> None:
    outcome = modern("server/discover")
    assert outcome.modern is True
    result = outcome.body["result"]
    assert result["supportedVersions"] == list(protocol.ALL_VERSIONS)
    assert set(result["capabilities"]) == {"tools", "resources", "prompts"}
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "dockhand"
    assert (result["ttlMs"], result["cacheScope"]) == (3_600_000, "public")


def test_modern_results_carry_result_type_and_cache_hints() -> None:
    tools = modern("tools/list").body["result"]
    assert [tool["name"] for tool in tools["tools"]] == list(catalog.TOOLS)
    assert tools["resultType"] == "complete"
    assert (tools["ttlMs"], tools["cacheScope"]) == (3_600_000, "public")
    templates = modern("resources/templates/list").body["result"]
    assert templates["resultType"] == "complete"
    assert "ttlMs" in templates


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"mcp_method": "tools/call"}, "Mcp-Method"),
        ({"mcp_method": ""}, "Mcp-Method"),
    ],
)
def test_modern_headers_must_match_the_body(headers: dict[str, str], fragment: str) -> None:
    error = error_of(modern("tools/list", **headers))
    assert error["code"] == -32020
    assert fragment in error["message"]


def test_modern_mcp_name_is_checked_and_may_be_base64() -> None:
    params = {"name": "résumé", "arguments": {"thread_id": "x"}}
    wrong = modern("tools/call", params, mcp_name="other")
    assert error_of(wrong)["code"] == -32020
    missing = modern("tools/call", params)
    assert error_of(missing)["code"] == -32020
    encoded = "=?base64?" + base64.b64encode("résumé".encode()).decode() + "?="
    answered = modern("tools/call", params, mcp_name=encoded)
    assert error_of(answered) == {"code": -32602, "message": "Unknown tool: résumé"}
    assert error_of(modern("tools/call", params, mcp_name="=?base64?!!?="))["code"] == -32020


def test_modern_version_header_must_equal_the_meta_version() -> None:
    message = request("tools/list", {"_meta": {**META, META_KEY: "2025-06-18"}})
    error = error_of(handle(message, MODERN, mcp_method="tools/list"))
    assert error["code"] == -32020


META_KEY = "io.modelcontextprotocol/protocolVersion"


@pytest.mark.parametrize("params", [None, {}, {"_meta": {META_KEY: MODERN}}, {"_meta": "x"}])
def test_modern_requests_need_the_meta_envelope(params: dict[str, Any] | None) -> None:
    outcome = handle(request("tools/list", params), MODERN, mcp_method="tools/list")
    assert error_of(outcome)["code"] == -32602


def test_modern_has_no_ping_and_no_batches_and_ignores_notifications() -> None:
    assert error_of(modern("ping"))["code"] == -32601
    assert handle([request("ping")], MODERN).kind == "rejected"
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled"}
    assert handle(note, MODERN) == protocol.Outcome("accepted", modern=True)


def test_modern_missing_resource_is_minus_32602() -> None:
    uri = "dockhand://threads/Bad Slug/rehydrate"
    error = error_of(modern("resources/read", {"uri": uri}, mcp_name=uri))
    assert error == {"code": -32602, "message": "Resource not found", "data": {"uri": uri}}


def test_initialize_under_a_modern_header_is_the_handshake() -> None:
    outcome = handle(request("initialize", INIT_PARAMS), MODERN)
    assert outcome.modern is False
    assert outcome.body["result"]["protocolVersion"] == "2025-06-18"


def test_the_lambda_side_never_loads_the_sdk() -> None:
    """The SDK is a CLI dependency: not in the layer, not imported by the function."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    script = (
        "import sys, handlers.mcp\n"
        "roots = {'mcp', 'mcp_types', 'httpx2', 'anyio', 'starlette', 'uvicorn'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    runtime = (repo / "requirements.txt").read_text().lower()
    assert "mcp" not in runtime
