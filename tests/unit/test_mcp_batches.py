"""Hardening 2, "Batches count": a JSON-RPC batch to POST /mcp holds at most 20
messages and each message is one request to the key's rate limit.  Both revisions:
2025-03-26 (batches; also what no MCP-Protocol-Version header means) and 2025-06-18
(no batches at all)."""

from __future__ import annotations

from typing import Any

import pytest

from common.mcp import protocol
from common.runtime.config import settings
from tests.conftest import ApiClient, Keys, Result

THREAD = "batch-thread"


def add_note(n: int) -> dict[str, Any]:
    arguments = {"thread_id": THREAD, "text": f"note {n}"}
    params = {"name": "add_note", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}


def ping(n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": "ping"}


def post(api: ApiClient, key: str, body: Any, version: str | None) -> Result:
    headers = {"MCP-Protocol-Version": version} if version else {}
    return api.post("/mcp", key=key, json_body=body, headers=headers)


def notes_count(api: ApiClient, key: str) -> int:
    page = api.get("/notes", key=key, query={"thread_id": THREAD, "limit": "100"})
    assert page.status == 200, page.text
    return len(page.json["items"])


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "30")
    settings.cache_clear()
    return 30


@pytest.mark.parametrize("version", [None, "2025-03-26"])
def test_a_batch_of_20_is_served_in_full(api: ApiClient, keys: Keys, version: str | None) -> None:
    result = post(api, keys.creator, [add_note(n) for n in range(protocol.MAX_BATCH)], version)
    assert result.status == 200, result.text
    assert [reply["id"] for reply in result.json] == list(range(20))
    assert all(reply["result"]["isError"] is False for reply in result.json)
    assert notes_count(api, keys.viewer) == 20


@pytest.mark.parametrize(("version", "size"), [(None, 21), ("2025-03-26", 21), (None, 300)])
def test_a_batch_over_20_is_refused_whole_with_a_jsonrpc_error(
    api: ApiClient, keys: Keys, version: str | None, size: int
) -> None:
    result = post(api, keys.creator, [add_note(n) for n in range(size)], version)
    assert result.status == 400
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["jsonrpc"] == "2.0"
    assert result.json["id"] is None
    assert result.json["error"]["code"] == -32600
    assert "at most 20" in result.json["error"]["message"]
    assert notes_count(api, keys.viewer) == 0  # nothing in it ran


@pytest.mark.parametrize("version", [None, "2025-03-26"])
def test_every_message_of_a_batch_counts_against_the_rate_limit(
    api: ApiClient, keys: Keys, limit: int, version: str | None
) -> None:
    first = post(api, keys.creator, [add_note(n) for n in range(20)], version)
    assert first.status == 200
    # 20 of 30 spent: a second batch of 20 does not fit and is refused whole.
    second = post(api, keys.creator, [add_note(n) for n in range(20, 40)], version)
    assert second.status == 429
    assert second.error_code == "rate_limited"
    assert 1 <= int(second.headers["Retry-After"]) <= settings().rate_limit_window_seconds
    assert notes_count(api, keys.viewer) == 20
    # The refused POST was one request (21 spent); what is left (9) still serves.
    assert post(api, keys.creator, [ping(n) for n in range(9)], version).status == 200
    assert post(api, keys.creator, ping(1), version).status == 429


def test_notifications_in_a_batch_count_too(api: ApiClient, keys: Keys, limit: int) -> None:
    notices = [{"jsonrpc": "2.0", "method": "notifications/initialized"}] * 20
    assert post(api, keys.creator, notices, None).status == 202  # 20 spent
    # 31 > 30: refused whole; its POST is still one request (21 spent), the rest is not.
    assert post(api, keys.creator, notices[:11], None).status == 429
    assert post(api, keys.creator, notices[:9], "2025-03-26").status == 202  # exactly 30
    assert post(api, keys.creator, ping(1), None).status == 429


def test_batches_stay_refused_under_2025_06_18_and_cost_one_request(
    api: ApiClient, keys: Keys, limit: int
) -> None:
    for size in (1, 20, 21):
        result = post(api, keys.creator, [add_note(n) for n in range(size)], "2025-06-18")
        assert result.status == 400
        assert result.json["error"]["code"] == -32600
        assert "no JSON-RPC batches" in result.json["error"]["message"]
    assert notes_count(api, keys.viewer) == 0
    # Each refused POST was one request: 3 of 30 spent, 27 single requests left.
    statuses = [post(api, keys.creator, ping(n), "2025-06-18").status for n in range(28)]
    assert statuses == [200] * 27 + [429]


def test_a_single_message_costs_one_request(api: ApiClient, keys: Keys, limit: int) -> None:
    statuses = [post(api, keys.viewer, ping(n), None).status for n in range(31)]
    assert statuses == [200] * 30 + [429]
