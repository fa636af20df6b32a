"""Real POST /mcp answers (results, errors, batches, refusals; every status the
endpoint answers with a body) are the typed views of common/mcp/replies.py: valid for
`TypeAdapter(view)` (closed, typed) and for the JSON Schema derived from it (exactly one
of result and error)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from common.mcp import replies
from tests.conftest import ApiClient, Keys, Result
from tests.unit.test_mcp import modern_post

OLD = {"MCP-Protocol-Version": "2025-03-26"}
NEW = {"MCP-Protocol-Version": "2025-06-18"}


def _message(method: str, message_id: Any = 1, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def _conforms(view: Any, result: Result) -> Any:
    """The body, checked against the view and the schema the document derives from it."""
    adapter: TypeAdapter[Any] = TypeAdapter(view)
    body = adapter.validate_json(result.text, strict=True)
    Draft202012Validator(adapter.json_schema()).validate(result.json)
    return body


def test_a_result_and_an_error_are_replies(api: ApiClient, keys: Keys) -> None:
    listed = api.post("/mcp", key=keys.viewer, json_body=_message("tools/list"), headers=NEW)
    assert listed.status == 200
    assert "result" in _conforms(replies.JsonRpcReply, listed)
    unknown = api.post("/mcp", key=keys.viewer, json_body=_message("nope", "a"), headers=NEW)
    assert unknown.status == 200
    assert _conforms(replies.JsonRpcReply, unknown)["error"]["code"] == -32601
    bad_tool = api.post(
        "/mcp",
        key=keys.viewer,
        json_body=_message("tools/call", 2, {"name": "list_threads", "arguments": {"limit": 0}}),
        headers=NEW,
    )
    assert _conforms(replies.JsonRpcReply, bad_tool)["result"]["isError"] is True


def test_a_batch_answers_a_list_of_replies(api: ApiClient, keys: Keys) -> None:
    batch = [
        _message("ping", 1),
        _message("nope", "two"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
    ]
    answered = api.post("/mcp", key=keys.viewer, json_body=batch, headers=OLD)
    assert answered.status == 200
    body = _conforms(replies.JsonRpcReply, answered)
    assert [("result" in reply, reply["id"]) for reply in body] == [
        (True, 1),
        (False, "two"),
        (False, None),
    ]


def test_a_modern_reply_and_its_error_are_replies(api: ApiClient, keys: Keys) -> None:
    discovered = modern_post(api, keys.viewer, "server/discover")
    assert discovered.status == 200
    assert _conforms(replies.JsonRpcReply, discovered)["result"]["resultType"] == "complete"
    gone = modern_post(api, keys.viewer, "ping")
    assert gone.status == 404
    assert _conforms(replies.JsonRpcRefusal, gone)["error"]["code"] == -32601


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", NEW, 400),
        (b"[1, 2]", OLD, 400),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', NEW, 400),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', NEW, 400),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"Content-Type": "text/plain"}, 415),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"Accept": "text/html"}, 406),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"Origin": "https://evil.example"}, 403),
    ],
)
def test_a_refused_body_is_a_refusal(
    api: ApiClient, keys: Keys, body: bytes, headers: dict[str, str], status: int
) -> None:
    refused = api.post("/mcp", key=keys.viewer, body=body, headers=headers)
    assert refused.status == status
    answer = _conforms(replies.JsonRpcRefusal, refused)
    for reply in answer if isinstance(answer, list) else [answer]:
        assert reply["id"] is None
        assert "error" in reply


@pytest.mark.parametrize("method", ["get", "delete"])
def test_405_is_a_refusal(api: ApiClient, method: str) -> None:
    refused = getattr(api, method)("/mcp")
    assert refused.status == 405
    _conforms(replies.JsonRpcRefusal, refused)


@pytest.mark.parametrize(
    "body",
    [
        '{"jsonrpc": "2.0", "id": 1}',  # neither result nor error
        '{"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "m"}}',
        '{"jsonrpc": "2.0", "id": 1, "result": {}, "extra": true}',
        '{"jsonrpc": "2.0", "id": 1.5, "result": {}}',
        '{"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": "m"}}',
        '{"jsonrpc": "1.0", "id": 1, "result": {}}',
    ],
)
def test_a_malformed_reply_is_not_one(body: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(replies.JsonRpcReply)
    try:
        adapter.validate_json(body, strict=True)
    except ValidationError:
        return  # the view refuses it
    assert not Draft202012Validator(adapter.json_schema()).is_valid(json.loads(body))
