"""POST /mcp tools/call and tools/list through the Lambda handler (v2 events, moto): every
tool answers as its HTTP route does, with the same errors, roles and tenant isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ApiClient, Keys
from tests.unit.mcp_support import call, http_error, rpc, text_of, tool_error
from tests.unit.test_hydrate import THREAD, UNICODE_GOAL
from tests.unit.test_rehydrate import UNKNOWN, hydrate

# --- tools ----------------------------------------------------------------------------------


def test_rehydrate_is_the_get_rehydrate_document(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    over_http = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD}).text
    by_thread = call(api, keys.viewer, "rehydrate", thread_id=THREAD)
    by_id = call(api, keys.viewer, "rehydrate", snapshot_id=snapshot_id)
    assert by_thread["isError"] is False
    assert text_of(by_thread) == text_of(by_id) == over_http
    assert f"# Rehydrate: {UNICODE_GOAL}" in over_http


def test_rehydrate_options_match_the_route(api: ApiClient, keys: Keys) -> None:
    first = hydrate(api, keys.creator)
    second = hydrate(api, keys.creator, decisions=[f"decision {i}" for i in range(200)])
    query = {"format": "json", "max_tokens": "300", "since": first}
    over_http = api.get(f"/rehydrate/{second}", key=keys.viewer, query=query).json
    result = call(
        api,
        keys.viewer,
        "rehydrate",
        snapshot_id=second,
        format="json",
        max_tokens=300,
        since=first,
    )
    assert result["structuredContent"] == over_http == json.loads(text_of(result))


@pytest.mark.parametrize(
    ("arguments", "query"),
    [
        ({"thread_id": "Not A Slug"}, {"thread_id": "Not A Slug"}),
        ({"thread_id": THREAD, "format": "yaml"}, {"thread_id": THREAD, "format": "yaml"}),
        ({"thread_id": THREAD, "max_tokens": 10}, {"thread_id": THREAD, "max_tokens": "10"}),
        ({"thread_id": THREAD, "since": UNKNOWN}, {"thread_id": THREAD, "since": UNKNOWN}),
        ({"thread_id": "no-snapshots-here"}, {"thread_id": "no-snapshots-here"}),
    ],
)
def test_rehydrate_errors_read_as_over_http(
    api: ApiClient, keys: Keys, arguments: dict[str, Any], query: dict[str, str]
) -> None:
    hydrate(api, keys.creator)
    over_http = api.get("/rehydrate", key=keys.viewer, query=query)
    assert over_http.status in (400, 404)
    assert tool_error(call(api, keys.viewer, "rehydrate", **arguments)) == http_error(over_http)


def test_rehydrate_by_unknown_snapshot_reads_as_over_http(api: ApiClient, keys: Keys) -> None:
    over_http = api.get(f"/rehydrate/{UNKNOWN}", key=keys.viewer)
    assert over_http.status == 404
    assert tool_error(call(api, keys.viewer, "rehydrate", snapshot_id=UNKNOWN)) == http_error(
        over_http
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"thread_id": THREAD, "snapshot_id": UNKNOWN},
        {"thread_id": 12},
        {"thread_id": THREAD, "max_tokens": "300"},
        {"thread_id": THREAD, "max_tokens": 300.5},
        {"thread_id": THREAD, "colour": "blue"},
    ],
)
def test_rehydrate_bad_arguments_are_tool_errors(
    api: ApiClient, keys: Keys, arguments: dict[str, Any]
) -> None:
    error = tool_error(call(api, keys.viewer, "rehydrate", **arguments))
    assert error["code"] == "validation_error"
    assert error["details"], error


def test_unknown_argument_reads_like_an_unknown_body_field(api: ApiClient, keys: Keys) -> None:
    error = tool_error(call(api, keys.viewer, "list_threads", colour="blue"))
    assert error["details"] == [{"field": "colour", "message": "unknown field"}]


def test_list_tools_answer_the_routes_pages(api: ApiClient, keys: Keys) -> None:
    hydrate(api, keys.creator)
    hydrate(api, keys.creator, thread_id="second")
    api.post(
        "/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "a", "kind": "todo"}
    )
    api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "b"})
    pairs = [
        ("list_threads", {"limit": 1}, "/threads", {"limit": "1"}),
        ("list_snapshots", {"thread_id": THREAD}, "/snapshots", {"thread_id": THREAD}),
        ("get_notes", {"thread_id": THREAD}, "/notes", {"thread_id": THREAD}),
        (
            "get_notes",
            {"thread_id": THREAD, "kind": "todo"},
            "/notes",
            {"thread_id": THREAD, "kind": "todo"},
        ),
    ]
    for tool, arguments, path, query in pairs:
        result = call(api, keys.viewer, tool, **arguments)
        over_http = api.get(path, key=keys.viewer, query=query).json
        assert result["isError"] is False
        assert result["structuredContent"] == over_http == json.loads(text_of(result)), tool
    threads = call(api, keys.viewer, "list_threads", limit=1)["structuredContent"]
    assert threads["has_more"] is True
    rest = call(api, keys.viewer, "list_threads", cursor=threads["next_cursor"])
    # THREAD has the newest activity (its notes), so it leads.
    assert [t["thread_id"] for t in threads["items"]] == [THREAD]
    assert [t["thread_id"] for t in rest["structuredContent"]["items"]] == ["second"]


@pytest.mark.parametrize(
    "case",
    [
        ("list_threads", {"limit": 0}, "/threads", {"limit": "0"}),
        ("list_threads", {"cursor": "forged"}, "/threads", {"cursor": "forged"}),
        ("list_snapshots", {}, "/snapshots", {}),
        ("list_snapshots", {"thread_id": "UPPER"}, "/snapshots", {"thread_id": "UPPER"}),
        (
            "get_notes",
            {"thread_id": THREAD, "kind": "rant"},
            "/notes",
            {"thread_id": THREAD, "kind": "rant"},
        ),
        (
            "get_notes",
            {"thread_id": THREAD, "limit": 201},
            "/notes",
            {"thread_id": THREAD, "limit": "201"},
        ),
    ],
)
def test_list_tool_errors_read_as_over_http(
    api: ApiClient, keys: Keys, case: tuple[str, dict[str, Any], str, dict[str, str]]
) -> None:
    tool, arguments, path, query = case
    over_http = api.get(path, key=keys.viewer, query=query)
    assert over_http.status == 400
    assert tool_error(call(api, keys.viewer, tool, **arguments)) == http_error(over_http)


def test_add_note_stores_the_note_as_post_notes_does(api: ApiClient, keys: Keys) -> None:
    arguments = {
        "thread_id": THREAD,
        "text": "Decided: keep the cart in DynamoDB ✅ token=ghp_" + "a" * 36,
        "kind": "decision",
        "source": {"path": "cart/store.py", "line": 42},
        "tags": ["cart"],
    }
    result = call(api, keys.creator, "add_note", **arguments)
    note = result["structuredContent"]
    assert result["isError"] is False
    assert note["redactions"] == {"github_token": 1}
    assert "ghp_" not in note["text"]
    stored = api.get(f"/notes/{note['note_id']}", key=keys.viewer).json
    assert stored == {k: v for k, v in note.items() if k != "redactions"}
    assert stored["kind"] == "decision"
    assert stored["source"] == {"path": "cart/store.py", "line": 42}


@pytest.mark.parametrize(
    "body",
    [
        {"thread_id": THREAD},
        {"thread_id": THREAD, "text": ""},
        {"thread_id": THREAD, "text": "x", "kind": "rant"},
        {"thread_id": THREAD, "text": "x", "source": {"path": "a", "line": 0}},
        {"thread_id": THREAD, "text": "x", "tags": ["t"] * 21},
        {"thread_id": THREAD, "text": "x", "owner": "me"},
    ],
)
def test_add_note_errors_read_as_post_notes(
    api: ApiClient, keys: Keys, body: dict[str, Any]
) -> None:
    over_http = api.post("/notes", key=keys.creator, json_body=body)
    assert over_http.status == 400
    assert tool_error(call(api, keys.creator, "add_note", **body)) == http_error(over_http)


def test_viewer_is_refused_add_note_and_nothing_is_stored(api: ApiClient, keys: Keys) -> None:
    result = call(api, keys.viewer, "add_note", thread_id=THREAD, text="sneaky")
    over_http = api.post("/notes", key=keys.viewer, json_body={"thread_id": THREAD, "text": "x"})
    assert over_http.status == 403
    assert tool_error(result) == http_error(over_http)
    assert api.get("/notes", key=keys.viewer, query={"thread_id": THREAD}).json["items"] == []


# --- tenants --------------------------------------------------------------------------------


def test_another_tenants_ids_are_unknown(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "acme only"})
    other = keys.other_viewer
    own_unknown = tool_error(call(api, other, "rehydrate", snapshot_id=UNKNOWN))
    assert tool_error(call(api, other, "rehydrate", snapshot_id=snapshot_id)) == own_unknown
    no_thread = tool_error(call(api, other, "rehydrate", thread_id="never-used"))
    assert tool_error(call(api, other, "rehydrate", thread_id=THREAD)) == no_thread
    assert call(api, other, "list_threads")["structuredContent"]["items"] == []
    assert call(api, other, "list_snapshots", thread_id=THREAD)["structuredContent"]["items"] == []
    assert call(api, other, "get_notes", thread_id=THREAD)["structuredContent"]["items"] == []
    assert rpc(api, other, "resources/list")["result"]["resources"] == []
    uri = f"dockhand://threads/{THREAD}/rehydrate"
    assert rpc(api, other, "resources/read", {"uri": uri})["error"]["code"] == -32002
    prompt = rpc(api, other, "prompts/get", {"name": "resume", "arguments": {"thread_id": THREAD}})
    assert prompt["error"]["message"] == no_thread["message"]


def test_a_cursor_of_another_tenant_is_refused(api: ApiClient, keys: Keys) -> None:
    hydrate(api, keys.creator)
    hydrate(api, keys.creator, thread_id="second")
    page = call(api, keys.viewer, "list_threads", limit=1)["structuredContent"]
    error = tool_error(call(api, keys.other_viewer, "list_threads", cursor=page["next_cursor"]))
    assert error["code"] == "invalid_cursor"
