"""MCP against the local gateway with the official SDK's own clients: its Streamable HTTP
client on POST /mcp and its stdio client on `dockhand mcp`; plus the JSON-RPC edge
cases over raw HTTP (the SDK never sends them)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import DOCKHAND_CLI, REPO, Gateway

pytestmark = pytest.mark.e2e

TENANT, OTHER = "mcp-acme", "mcp-globex"
THREAD = "mcp-checkout"
GOAL = "Ship the checkout ✨ 日本語"
TOOLS = ["rehydrate", "list_threads", "list_snapshots", "get_notes", "search_notes", "add_note"]
STDIO_TOOLS = [*TOOLS, "snapshot"]  # `dockhand mcp` collects the repository it runs in
T = TypeVar("T")


@dataclass(frozen=True)
class Tenancy:
    creator: str
    viewer: str
    other_viewer: str
    snapshot_id: str


@pytest.fixture(scope="module")
def tenancy(gateway: Gateway) -> Tenancy:
    creator = gateway.create_key(TENANT, "creator")
    snapshot = {
        "thread": {"id": THREAD, "goal": GOAL, "persona": "senior-backend-dev"},
        "commits": [
            {
                "sha": "c" * 40,
                "message": "feat: cart totals",
                "author": "Zoë",
                "timestamp": "2026-11-30T10:00:00Z",
            }
        ],
        "decisions": ["Keep the cart in DynamoDB"],
        "tasks": [{"title": "Refund flow", "status": "in_progress"}],
    }
    stored = gateway.http("POST", "/hydrate", key=creator, json=snapshot)
    assert stored.status == 201, stored.body
    note = {"thread_id": THREAD, "text": "Why is tax rounded twice?", "kind": "question"}
    assert gateway.http("POST", "/notes", key=creator, json=note).status == 201
    return Tenancy(
        creator=creator,
        viewer=gateway.create_key(TENANT, "viewer"),
        other_viewer=gateway.create_key(OTHER, "viewer"),
        snapshot_id=str(stored.json["snapshot_id"]),
    )


def _over_http(
    gateway: Gateway, key: str, session: Callable[[Client], Awaitable[T]], mode: str
) -> T:
    async def run() -> T:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http_client:
            transport = streamable_http_client(f"{gateway.url}/mcp", http_client=http_client)
            async with Client(transport, mode=mode) as client:
                return await session(client)

    return anyio.run(run)


def over_http(gateway: Gateway, key: str, session: Callable[[Client], Awaitable[T]]) -> T:
    """An SDK client on POST /mcp with `key`, in its default 'auto' mode: the
    server/discover probe finds 2026-07-28, served statelessly per request."""
    return _over_http(gateway, key, session, "auto")


def over_http_handshake(gateway: Gateway, key: str, session: Callable[[Client], Awaitable[T]]) -> T:
    """An SDK client on POST /mcp in 'legacy' mode: the initialize handshake (2025-11-25)."""
    return _over_http(gateway, key, session, "legacy")


def over_stdio(
    gateway: Gateway, key: str, session: Callable[[Client], Awaitable[T]], cwd: Path = REPO
) -> T:
    """Run `session` on an SDK stdio client of `dockhand mcp` (started as a user would)."""
    env = {**gateway.env, "DOCKHAND_API_KEY": key}
    params = StdioServerParameters(
        command=DOCKHAND_CLI[0], args=[*DOCKHAND_CLI[1:], "mcp"], env=env, cwd=str(cwd)
    )

    async def run() -> T:
        async with Client(params) as client:
            return await session(client)

    return anyio.run(run)


Runner = Callable[[Gateway, str, Callable[[Client], Awaitable[Any]]], Any]
BOTH = pytest.mark.parametrize(
    "run", [over_http, over_http_handshake, over_stdio], ids=["http", "http-handshake", "stdio"]
)


def missing_resource_code(run: Runner) -> int:
    """2026-07-28 turned "resource not found" into -32602; the handshake era has -32002
    (the stdio server relays POST /mcp's handshake-era answer as it is)."""
    return -32602 if run is over_http else -32002


def text_of(result: Any) -> str:
    assert len(result.content) == 1
    return str(result.content[0].text)


@BOTH
def test_initialize_and_list_everything(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> dict[str, Any]:
        return {
            "version": client.protocol_version,
            "server": client.server_info.name if client.server_info else None,
            "tools": [tool.name for tool in (await client.list_tools()).tools],
            "resources": [str(r.uri) for r in (await client.list_resources()).resources],
            "templates": [
                t.uri_template for t in (await client.list_resource_templates()).resource_templates
            ],
            "prompts": [p.name for p in (await client.list_prompts()).prompts],
        }

    seen = run(gateway, tenancy.viewer, session)
    assert seen["version"] == ("2025-11-25" if run is over_http_handshake else "2026-07-28")
    assert seen["server"] == "dockhand"
    assert seen["tools"] == (STDIO_TOOLS if run is over_stdio else TOOLS)
    assert seen["resources"] == [f"dockhand://threads/{THREAD}/rehydrate"]
    assert seen["templates"] == ["dockhand://threads/{thread_id}/rehydrate"]
    assert seen["prompts"] == ["resume"]


@BOTH
def test_every_tool(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> dict[str, Any]:
        results = {
            "rehydrate": await client.call_tool("rehydrate", {"thread_id": THREAD}),
            "by_id": await client.call_tool(
                "rehydrate", {"snapshot_id": tenancy.snapshot_id, "format": "json"}
            ),
            "list_threads": await client.call_tool("list_threads", {"limit": 5}),
            "list_snapshots": await client.call_tool("list_snapshots", {"thread_id": THREAD}),
            "get_notes": await client.call_tool(
                "get_notes", {"thread_id": THREAD, "kind": "question"}
            ),
        }
        return {name: (r.is_error, text_of(r), r.structured_content) for name, r in results.items()}

    seen = run(gateway, tenancy.viewer, session)
    assert not any(is_error for is_error, _, _ in seen.values())
    document = gateway.http("GET", f"/rehydrate?thread_id={THREAD}", key=tenancy.viewer).body
    assert seen["rehydrate"][1] == document
    assert f"# Rehydrate: {GOAL}" in document
    assert seen["by_id"][2]["front_matter"]["snapshot_id"] == tenancy.snapshot_id
    assert [t["thread_id"] for t in seen["list_threads"][2]["items"]] == [THREAD]
    assert [s["snapshot_id"] for s in seen["list_snapshots"][2]["items"]] == [tenancy.snapshot_id]
    assert [n["text"] for n in seen["get_notes"][2]["items"]] == ["Why is tax rounded twice?"]
    assert json.loads(seen["get_notes"][1]) == seen["get_notes"][2]


@BOTH
def test_add_note_creator_yes_viewer_no(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    arguments = {"thread_id": THREAD, "text": f"via {run.__name__}", "tags": ["mcp"]}

    async def session(client: Client) -> Any:
        return await client.call_tool("add_note", arguments)

    created = run(gateway, tenancy.creator, session)
    assert created.is_error is False
    note_id = created.structured_content["note_id"]
    assert gateway.http("GET", f"/notes/{note_id}", key=tenancy.viewer).json["tags"] == ["mcp"]
    refused = run(gateway, tenancy.viewer, session)
    assert refused.is_error is True
    assert json.loads(text_of(refused))["error"]["code"] == "forbidden"
    listed = gateway.http("GET", f"/notes?thread_id={THREAD}", key=tenancy.viewer).json["items"]
    assert sum(note["text"] == arguments["text"] for note in listed) == 1


@BOTH
def test_input_errors_are_tool_results(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> list[Any]:
        return [
            await client.call_tool("rehydrate", {"thread_id": "Not A Slug"}),
            await client.call_tool("rehydrate", {"thread_id": THREAD, "max_tokens": 5}),
            await client.call_tool("get_notes", {"thread_id": THREAD, "kind": "rant"}),
            await client.call_tool("list_threads", {"cursor": "forged"}),
        ]

    results = run(gateway, tenancy.viewer, session)
    assert [r.is_error for r in results] == [True] * 4
    codes = [json.loads(text_of(r))["error"]["code"] for r in results]
    assert codes == ["validation_error", "validation_error", "validation_error", "invalid_cursor"]
    http_error = gateway.http("GET", "/rehydrate?thread_id=Not%20A%20Slug", key=tenancy.viewer)
    assert (
        json.loads(text_of(results[0]))["error"]["details"] == http_error.json["error"]["details"]
    )


@BOTH
def test_another_tenant_sees_nothing(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> dict[str, Any]:
        by_thread = await client.call_tool("rehydrate", {"thread_id": THREAD})
        by_id = await client.call_tool("rehydrate", {"snapshot_id": tenancy.snapshot_id})
        threads = await client.call_tool("list_threads", {})
        resources = await client.list_resources()
        try:
            await client.read_resource(f"dockhand://threads/{THREAD}/rehydrate")
            read_code = None
        except MCPError as error:
            read_code = error.code
        return {
            "by_thread": json.loads(text_of(by_thread))["error"],
            "by_id": json.loads(text_of(by_id))["error"],
            "threads": threads.structured_content["items"],
            "resources": resources.resources,
            "read_code": read_code,
        }

    seen = run(gateway, tenancy.other_viewer, session)
    assert seen["by_thread"]["message"] == "This thread has no snapshots."
    assert seen["by_id"]["message"] == "No such snapshot."
    assert seen["threads"] == []
    assert seen["resources"] == []
    assert seen["read_code"] == missing_resource_code(run)


@BOTH
def test_read_resource_and_get_prompt(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    uri = f"dockhand://threads/{THREAD}/rehydrate"

    async def session(client: Client) -> tuple[Any, Any]:
        return await client.read_resource(uri), await client.get_prompt(
            "resume", {"thread_id": THREAD, "max_tokens": "500"}
        )

    read, prompt = run(gateway, tenancy.viewer, session)
    [contents] = read.contents
    assert (str(contents.uri), contents.mime_type) == (uri, "text/markdown")
    document = gateway.http("GET", f"/rehydrate?thread_id={THREAD}", key=tenancy.viewer).body
    assert contents.text == document
    [message] = prompt.messages
    assert message.role == "user"
    assert "continue the work" in message.content.text
    budgeted = gateway.http(
        "GET", f"/rehydrate?thread_id={THREAD}&max_tokens=500", key=tenancy.viewer
    ).body
    assert message.content.text.endswith(budgeted)


@BOTH
def test_protocol_errors_reach_the_client(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> list[int]:
        codes = []
        for attempt in (
            client.call_tool("drop_tables", {}),
            client.get_prompt("resume", {"thread_id": "Bad Slug"}),
            client.read_resource("dockhand://threads/nope/rehydrate"),
        ):
            try:
                await attempt
                codes.append(0)
            except MCPError as error:
                codes.append(error.code)
        return codes

    assert run(gateway, tenancy.viewer, session) == [-32602, -32602, missing_resource_code(run)]


# --- raw HTTP: what the SDK never sends -------------------------------------------------------


def mcp_post(gateway: Gateway, key: str | None, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        **headers,
    }
    return gateway.http("POST", "/mcp", key=key, data=data, headers=all_headers)


def test_raw_jsonrpc_cases(gateway: Gateway, tenancy: Tenancy) -> None:
    key = tenancy.viewer
    modern = {"MCP-Protocol-Version": "2025-06-18"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "8"},
        },
    }
    answered = mcp_post(gateway, key, initialize)
    assert answered.status == 200
    assert answered.json["result"]["protocolVersion"] == "2025-06-18"
    assert mcp_post(gateway, key, ping, **modern).json == {"jsonrpc": "2.0", "id": 1, "result": {}}
    parse = mcp_post(gateway, key, b"{not json", **modern)
    assert (parse.status, parse.json["error"]["code"], parse.json["id"]) == (400, -32700, None)
    invalid = mcp_post(gateway, key, {"jsonrpc": "2.0", "id": None, "method": "ping"}, **modern)
    assert (invalid.status, invalid.json["error"]["code"]) == (400, -32600)
    unknown = mcp_post(gateway, key, {**ping, "method": "no/such"}, **modern)
    assert (unknown.status, unknown.json["error"]["code"]) == (200, -32601)
    notification = mcp_post(gateway, key, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (notification.status, notification.body) == (202, "")
    refused_batch = mcp_post(gateway, key, [ping], **modern)
    assert (refused_batch.status, refused_batch.json["error"]["code"]) == (400, -32600)
    old_batch = mcp_post(
        gateway, key, [ping, {**ping, "id": 2}], **{"MCP-Protocol-Version": "2025-03-26"}
    )
    assert old_batch.status == 200
    assert [reply["id"] for reply in old_batch.json] == [1, 2]
    version = mcp_post(gateway, key, ping, **{"MCP-Protocol-Version": "2024-01-01"})
    assert (version.status, version.json["error"]["code"]) == (400, -32022)
    not_acceptable = mcp_post(gateway, key, ping, Accept="text/event-stream", **modern)
    assert not_acceptable.status == 406
    browser = mcp_post(gateway, key, ping, Origin="http://attacker.example", **modern)
    assert browser.status == 403  # DNS-rebinding guard: no browser origin is allowed here


def test_get_and_delete_are_405_and_no_key_is_401(gateway: Gateway) -> None:
    for method in ("GET", "DELETE"):
        result = gateway.http(method, "/mcp", headers={"Accept": "text/event-stream"})
        assert result.status == 405
        assert result.headers["allow"] == "POST"
    unauthenticated = mcp_post(gateway, None, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert unauthenticated.status == 401
    assert unauthenticated.error_code == "unauthorized"
    wrong = mcp_post(gateway, "dk_nope_nope", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert wrong.status == 401


def test_sdk_client_without_a_key_fails_to_connect(gateway: Gateway) -> None:
    async def connect() -> None:
        async with Client(f"{gateway.url}/mcp"):
            pass

    with pytest.raises(ExceptionGroup) as raised:  # the SDK's task groups wrap its error
        anyio.run(connect)
    assert raised.group_contains(MCPError, depth=None)


def test_dockhand_mcp_without_a_key_says_so(gateway: Gateway, tmp_path: Any) -> None:
    env = {k: v for k, v in gateway.env.items() if k != "DOCKHAND_API_KEY"}
    env["DOCKHAND_STATE_DIR"] = str(tmp_path)  # no running `make run` to borrow a key from
    completed = subprocess.run(
        [*DOCKHAND_CLI, "mcp"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 2
    assert "DOCKHAND_API_KEY" in completed.stderr
    assert completed.stdout == ""  # stdout is the MCP channel: nothing but messages


def test_dockhand_mcp_with_a_bad_key_says_so(gateway: Gateway) -> None:
    env = {**gateway.env, "DOCKHAND_API_KEY": "dk_nope_nope"}
    completed = subprocess.run(
        [*DOCKHAND_CLI, "mcp"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"dockhand mcp: no MCP session with {gateway.url}/mcp")
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""


@BOTH
def test_search_notes(gateway: Gateway, tenancy: Tenancy, run: Runner) -> None:
    async def session(client: Client) -> list[Any]:
        return [
            await client.call_tool("search_notes", {"query": "TAX ROUNDED"}),
            await client.call_tool("search_notes", {"query": "tax", "thread_id": THREAD}),
            await client.call_tool("search_notes", {"query": "tax", "kind": "decision"}),
            await client.call_tool("search_notes", {"query": ""}),
        ]

    found, by_thread, by_kind, bad = run(gateway, tenancy.viewer, session)
    assert [n["text"] for n in found.structured_content["items"]] == ["Why is tax rounded twice?"]
    assert found.structured_content["searched"]["complete"] is True
    assert by_thread.structured_content["items"] == found.structured_content["items"]
    assert by_kind.structured_content["items"] == []
    assert bad.is_error is True
    assert json.loads(text_of(bad))["error"]["code"] == "validation_error"
    other = run(
        gateway, tenancy.other_viewer, lambda c: c.call_tool("search_notes", {"query": "tax"})
    )
    assert other.structured_content["items"] == []


def test_stdio_snapshot_collects_the_repository_it_runs_in(
    gateway: Gateway, tenancy: Tenancy, tmp_path: Path
) -> None:
    repo = tmp_path / "corner-shop"
    repo.mkdir()
    (repo / "README.md").write_text("# Shop\n\nA checkout for the corner shop.\n")
    (repo / "app.py").write_text("# FIXME: tax rounding\nTOTAL = 1\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=Zoë", "-c", "user.email=z@example.com", "commit", "-qm", "feat: cart"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    async def session(client: Client) -> list[Any]:
        return [
            await client.call_tool("snapshot", {"thread_id": "stdio-snap", "goal": "Tax ✨"}),
            await client.call_tool("snapshot", {"thread_id": "stdio-snap"}),
            await client.call_tool("snapshot", {"thread_id": "Bad Slug"}),
            await client.call_tool("rehydrate", {"thread_id": "stdio-snap"}),
        ]

    first, second, bad, document = over_stdio(gateway, tenancy.creator, session, cwd=repo)
    assert first.is_error is False, text_of(first)
    assert first.structured_content["thread_id"] == "stdio-snap"
    assert first.structured_content["counts"]["markers"] == 1
    assert second.is_error is False
    assert bad.is_error is True
    assert json.loads(text_of(bad))["error"]["details"][0]["field"] == "thread_id"
    text = text_of(document)
    assert f'snapshot_id: "{second.structured_content["snapshot_id"]}"' in text
    assert "# Rehydrate: Tax ✨" in text  # the second snapshot kept the thread's goal
    assert "A checkout for the corner shop." in text
    refused = over_stdio(
        gateway,
        tenancy.viewer,
        lambda c: c.call_tool("snapshot", {"thread_id": "stdio-snap"}),
        cwd=repo,
    )
    assert refused.is_error is True
    assert "403" in json.loads(text_of(refused))["error"]["message"]
