"""POST /mcp through the Lambda handler (v2 events, moto): resources and prompts, tenants'
cursors, HTTP mapping, AWS call counts, faults, rate limiting and the 2026-07-28 binding.
Every tool is in test_mcp_tools.py."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.runtime.config import settings
from common.store import aws as clients
from tests.conftest import ApiClient, Keys, Result
from tests.unit.events_support import serialised_transactions_fixture  # noqa: F401 - a fixture
from tests.unit.mcp_support import call, post, rpc
from tests.unit.test_hydrate import THREAD, UNICODE_GOAL
from tests.unit.test_rehydrate import hydrate

# --- resources and prompts ------------------------------------------------------------------


def test_resources_list_and_read(api: ApiClient, keys: Keys) -> None:
    hydrate(api, keys.creator)
    api.post("/notes", key=keys.creator, json_body={"thread_id": "notes-only", "text": "x"})
    resources = rpc(api, keys.viewer, "resources/list")["result"]
    assert "nextCursor" not in resources
    uri = f"dockhand://threads/{THREAD}/rehydrate"
    assert [r["uri"] for r in resources["resources"]] == [uri]  # no document, no resource
    assert resources["resources"][0]["mimeType"] == "text/markdown"
    assert resources["resources"][0]["title"] == UNICODE_GOAL
    contents = rpc(api, keys.viewer, "resources/read", {"uri": uri})["result"]["contents"]
    over_http = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD}).text
    assert contents == [{"uri": uri, "mimeType": "text/markdown", "text": over_http}]
    missing = "dockhand://threads/notes-only/rehydrate"
    assert rpc(api, keys.viewer, "resources/read", {"uri": missing})["error"]["code"] == -32002


def test_resources_list_pages_with_the_threads_cursor(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("common.mcp.catalog.DEFAULT_LIMIT", 1)
    hydrate(api, keys.creator)
    hydrate(api, keys.creator, thread_id="second")
    first = rpc(api, keys.viewer, "resources/list")["result"]
    second = rpc(api, keys.viewer, "resources/list", {"cursor": first["nextCursor"]})["result"]
    uris = [r["uri"] for r in first["resources"] + second["resources"]]
    assert uris == ["dockhand://threads/second/rehydrate", f"dockhand://threads/{THREAD}/rehydrate"]
    bad = rpc(api, keys.viewer, "resources/list", {"cursor": "forged"})["error"]
    assert bad["code"] == -32602
    assert bad["data"]["code"] == "invalid_cursor"


def test_resume_prompt(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    params = {"name": "resume", "arguments": {"thread_id": THREAD, "max_tokens": "400"}}
    result = rpc(api, keys.viewer, "prompts/get", params)["result"]
    [message] = result["messages"]
    assert message["role"] == "user"
    text = message["content"]["text"]
    assert text.startswith(f"You are picking up work on the thread `{THREAD}`.")
    query = {"thread_id": THREAD, "max_tokens": "400"}
    assert text.endswith(api.get("/rehydrate", key=keys.viewer, query=query).text)
    assert snapshot_id in result["description"]


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"thread_id": "Bad Slug"},
        {"thread_id": THREAD, "max_tokens": "ten"},
        {"thread_id": THREAD, "max_tokens": 400},
        {"thread_id": THREAD, "tone": "kind"},
    ],
)
def test_resume_prompt_bad_arguments_are_minus_32602(
    api: ApiClient, keys: Keys, arguments: dict[str, Any]
) -> None:
    hydrate(api, keys.creator)
    error = rpc(api, keys.viewer, "prompts/get", {"name": "resume", "arguments": arguments})
    assert error["error"]["code"] == -32602
    assert error["error"]["data"]["code"] == "validation_error"


# --- HTTP mapping ---------------------------------------------------------------------------


def test_notification_is_202_with_no_body(api: ApiClient, keys: Keys) -> None:
    result = post(api, keys.viewer, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (result.status, result.text) == (202, "")


def test_invalid_messages_are_400_with_a_jsonrpc_error(api: ApiClient, keys: Keys) -> None:
    parse = api.post(
        "/mcp", key=keys.viewer, body="{nope", headers={"content-type": "application/json"}
    )
    assert parse.status == 400
    assert parse.json == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error: the body is not JSON."},
    }
    invalid = post(api, keys.viewer, {"id": 1, "method": "ping"})
    assert (invalid.status, invalid.json["error"]["code"]) == (400, -32600)
    batch = post(api, keys.viewer, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert (batch.status, batch.json["error"]["code"]) == (400, -32600)
    version = post(
        api,
        keys.viewer,
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        **{"MCP-Protocol-Version": "1999-01-01"},
    )
    assert (version.status, version.json["error"]["code"]) == (400, -32022)


def test_method_errors_stay_http_200(api: ApiClient, keys: Keys) -> None:
    assert rpc(api, keys.viewer, "no/such/method")["error"]["code"] == -32601


def test_batch_without_version_header_is_2025_03_26(api: ApiClient, keys: Keys) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_threads", "arguments": {}},
        },
    ]
    result = api.post("/mcp", key=keys.viewer, json_body=batch)
    assert result.status == 200
    assert [reply["id"] for reply in result.json] == [1, 2]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/json, text/event-stream", 200),
        ("text/event-stream, application/json;q=0.9", 200),
        ("*/*", 200),
        ("text/event-stream", 406),
        ("text/html", 406),
    ],
)
def test_accept_header(api: ApiClient, keys: Keys, accept: str, status: int) -> None:
    result = post(api, keys.viewer, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, accept=accept)
    assert result.status == status
    assert result.headers["Content-Type"] == "application/json"


def test_a_body_that_is_not_json_content_is_415(api: ApiClient, keys: Keys) -> None:
    result = api.post(
        "/mcp", key=keys.viewer, body='{"jsonrpc":"2.0"}', headers={"content-type": "text/plain"}
    )
    assert result.status == 415
    assert result.json["error"]["code"] == -32600


def test_get_and_delete_are_405(api: ApiClient, keys: Keys) -> None:
    for method in ("GET", "DELETE"):
        result = api.call(method, "/mcp", key=keys.viewer)
        assert result.status == 405
        assert result.headers["Allow"] == "POST"


@pytest.mark.parametrize("key", [None, "dk_nope_nope", "Basic abc"])
def test_no_valid_key_is_401(api: ApiClient, key: str | None) -> None:
    result = post(api, key, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert result.status == 401
    assert result.error_code == "unauthorized"


def test_rate_limit_applies(api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "3")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_LEASE_MAX", "1")
    settings.cache_clear()
    statuses = [
        post(api, keys.viewer, {"jsonrpc": "2.0", "id": 1, "method": "ping"}).status
        for _ in range(5)
    ]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


# --- AWS round trips and faults -------------------------------------------------------------


def test_tools_call_rehydrate_costs_what_get_rehydrate_costs(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    first = hydrate(api, keys.creator)
    hydrate(api, keys.creator)
    cases = [
        ({"thread_id": THREAD}, "/rehydrate", {"thread_id": THREAD}),
        (
            {"thread_id": THREAD, "since": first},
            "/rehydrate",
            {"thread_id": THREAD, "since": first},
        ),
        ({"snapshot_id": first}, f"/rehydrate/{first}", {}),
    ]
    for arguments, path, query in cases:
        api.get(path, key=keys.viewer, query=query)  # warm the key cache
        aws_calls.clear()
        assert api.get(path, key=keys.viewer, query=query).status == 200
        over_http = Counter(aws_calls)
        aws_calls.clear()
        assert call(api, keys.viewer, "rehydrate", **arguments)["isError"] is False
        assert aws_calls == over_http, arguments
        assert aws_calls["s3.GetObject"] == (2 if "since" in arguments else 1)


@pytest.fixture
def throttled_context(aws: None) -> Iterator[None]:
    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body")
        if isinstance(body, bytes) and settings().context_table.encode() in body:
            error = {"Error": {"Code": "ThrottlingException", "Message": "injected fault"}}
            raise ClientError(error, model.name)  # type: ignore[arg-type]

    client = clients.client("dynamodb")
    client.meta.events.register("before-call.dynamodb.Query", hook)
    yield
    client.meta.events.unregister("before-call.dynamodb.Query", hook)


def test_a_throttled_read_is_an_internal_error_without_aws_text(
    api: ApiClient, keys: Keys, throttled_context: None
) -> None:
    body = rpc(api, keys.viewer, "tools/call", {"name": "list_threads", "arguments": {}})
    assert body["error"]["code"] == -32603
    assert body["error"]["data"] == {"code": "service_unavailable"}
    assert "injected" not in json.dumps(body)


def test_answers_match_the_openapi_document(api: ApiClient, keys: Keys) -> None:
    from tests.unit.test_openapi import assert_documented

    hydrate(api, keys.creator)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert_documented("POST /mcp", post(api, keys.viewer, ping))
    tool = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "rehydrate", "arguments": {"thread_id": THREAD}},
    }
    assert_documented("POST /mcp", post(api, keys.viewer, tool))
    assert_documented("POST /mcp", post(api, keys.viewer, {**ping, "method": "no/such"}))
    assert_documented("POST /mcp", post(api, keys.viewer, {"jsonrpc": "2.0", "method": "n"}))
    assert_documented("POST /mcp", post(api, keys.viewer, {"id": 1}))
    assert_documented("POST /mcp", post(api, keys.viewer, [1, 2]))
    assert_documented("POST /mcp", api.post("/mcp", key=keys.viewer, json_body=[ping]))
    assert_documented("POST /mcp", post(api, keys.viewer, ping, accept="text/html"))
    assert_documented("POST /mcp", post(api, None, ping))
    for method in ("GET", "DELETE"):
        assert_documented(f"{method} /mcp", api.call(method, "/mcp"))


# --- 2026-07-28 over HTTP -------------------------------------------------------------------

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def modern_post(
    api: ApiClient, key: str, method: str, params: dict[str, Any] | None = None, **headers: str
) -> Result:
    message = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": method,
        "params": {**(params or {}), "_meta": MODERN_META},
    }
    all_headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, **headers}
    return api.post("/mcp", key=key, json_body=message, headers=all_headers)


def test_modern_requests_are_served_with_the_bindings_statuses(api: ApiClient, keys: Keys) -> None:
    hydrate(api, keys.creator)
    arguments = {"name": "rehydrate", "arguments": {"thread_id": THREAD}}
    called = modern_post(api, keys.viewer, "tools/call", arguments, **{"Mcp-Name": "rehydrate"})
    assert called.status == 200
    result = called.json["result"]
    assert result["resultType"] == "complete"
    assert result["isError"] is False
    over_http = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD}).text
    assert result["content"][0]["text"] == over_http
    assert modern_post(api, keys.viewer, "ping").status == 404  # ping is gone in 2026-07-28
    mismatch = modern_post(api, keys.viewer, "tools/list", **{"Mcp-Method": "prompts/list"})
    assert (mismatch.status, mismatch.json["error"]["code"]) == (400, -32020)
    uri = "dockhand://threads/nothing-here/rehydrate"
    missing = modern_post(api, keys.viewer, "resources/read", {"uri": uri}, **{"Mcp-Name": uri})
    assert (missing.status, missing.json["error"]["code"]) == (400, -32602)
    refused = modern_post(
        api,
        keys.viewer,
        "tools/call",
        {"name": "add_note", "arguments": {"thread_id": THREAD, "text": "x"}},
        **{"Mcp-Name": "add_note"},
    )
    assert refused.status == 200
    assert refused.json["result"]["isError"] is True
    from tests.unit.test_openapi import assert_documented

    for result in (called, mismatch, missing, modern_post(api, keys.viewer, "ping")):
        assert_documented("POST /mcp", result)
    not_jsonrpc = api.post(
        "/mcp",
        key=keys.viewer,
        json_body={"method": "notifications/x"},
        headers={"MCP-Protocol-Version": "2026-07-28"},
    )
    assert (not_jsonrpc.status, not_jsonrpc.json["error"]["code"]) == (400, -32600)


def test_a_browser_origin_is_refused_unless_allowed(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    refused = post(api, keys.viewer, ping, origin="https://evil.example")
    assert (refused.status, refused.json["error"]["code"]) == (403, -32600)
    assert "DOCKHAND_MCP_ALLOWED_ORIGINS" in refused.json["error"]["message"]  # the fix (#26)
    monkeypatch.setenv(
        "DOCKHAND_MCP_ALLOWED_ORIGINS", "https://inspector.example, http://localhost:6274"
    )
    settings.cache_clear()
    assert post(api, keys.viewer, ping, origin="http://localhost:6274").status == 200
    assert post(api, keys.viewer, ping, origin="https://evil.example").status == 403
    assert post(api, keys.viewer, ping).status == 200  # no Origin: not a browser


def test_log_lines_name_the_method_and_tool_never_the_arguments(api: ApiClient, keys: Keys) -> None:
    import io
    import logging

    from common.runtime.observability import logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    secret_text = "s3cr3t-argument-value"
    try:
        call(api, keys.creator, "add_note", thread_id=THREAD, text=secret_text)
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    request_line = next(line for line in lines if line["message"] == "request")
    assert request_line["mcp_method"] == "tools/call"
    assert request_line["mcp_name"] == "add_note"
    assert all(secret_text not in json.dumps(line) for line in lines)


@pytest.mark.usefixtures("serialised_transactions")  # DynamoDB's serialisable transactions
def test_concurrent_add_note_calls_store_each_note_once(api: ApiClient, keys: Keys) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(8)

    def add(index: int) -> str:
        barrier.wait()
        result = call(api, keys.creator, "add_note", thread_id=THREAD, text=f"parallel {index}")
        assert result["isError"] is False
        return str(result["structuredContent"]["note_id"])

    with ThreadPoolExecutor(8) as pool:
        note_ids = list(pool.map(add, range(8)))
    assert len(set(note_ids)) == 8
    listed = call(api, keys.viewer, "get_notes", thread_id=THREAD)["structuredContent"]["items"]
    assert sorted(note["text"] for note in listed) == sorted(f"parallel {i}" for i in range(8))
    [thread] = call(api, keys.viewer, "list_threads")["structuredContent"]["items"]
    assert thread["notes_count"] == 8
