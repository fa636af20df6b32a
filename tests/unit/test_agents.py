"""Agent registration, detail and listing: names unique per tenant, no secret ever
shown twice, tenant isolation, filters and cursors."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from typing import Any

import pytest

from common.agents import registry as agents
from common.agents import sweep as sweeping
from common.runtime import clock
from common.store import secrets
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import register

NOW = 1_790_000_000.0


@pytest.fixture(autouse=True)
def frozen(aws: None) -> None:
    clock.set_clock(lambda: NOW)


def test_registration_returns_the_agent_and_its_secret_once(api: ApiClient, keys: Keys) -> None:
    result = api.post(
        "/agents",
        key=keys.creator,
        json_body={"name": "builder-1", "region": "eu-west-1", "labels": {"pool": "gpu"}},
    )
    assert result.status == 201
    body = result.json
    assert set(body) == {
        "agent_id", "name", "region", "labels", "secret", "heartbeat_interval_seconds", "created_at"
    }  # fmt: skip
    assert body["name"] == "builder-1"
    assert body["region"] == "eu-west-1"
    assert body["labels"] == {"pool": "gpu"}
    assert body["heartbeat_interval_seconds"] == 30
    assert body["created_at"] == "2026-09-21T14:13:20.000Z"
    expected = hmac.new(secrets.derived_key("agent"), body["agent_id"].encode(), hashlib.sha256)
    assert body["secret"] == expected.hexdigest()

    shown = api.get(f"/agents/{body['agent_id']}", key=keys.viewer).json
    assert body["secret"] not in str(shown)
    assert shown == {
        "agent_id": body["agent_id"],
        "name": "builder-1",
        "region": "eu-west-1",
        "labels": {"pool": "gpu"},
        "status": "healthy",
        "heartbeat_interval_seconds": 30,
        "created_at": "2026-09-21T14:13:20.000Z",
        "last_heartbeat_at": None,
        "last_heartbeat": None,
        "work": {"leased": 0, "oldest_leased_at": None},
    }


def test_secret_is_not_stored(api: ApiClient, keys: Keys) -> None:
    from common.runtime.config import settings
    from common.store import aws as clients

    agent = register(api, keys.creator)
    stored = clients.dynamodb().scan(TableName=settings().agents_table)["Items"]
    assert agent["secret"] not in str(stored)


def test_ids_sort_in_creation_order(api: ApiClient, keys: Keys) -> None:
    first = register(api, keys.creator, name="a-first")["agent_id"]
    clock.set_clock(lambda: NOW + 1)
    second = register(api, keys.creator, name="0-second")["agent_id"]
    assert first < second


def test_name_is_unique_per_tenant(api: ApiClient, keys: Keys) -> None:
    register(api, keys.creator, name="builder-1")
    again = api.post("/agents", key=keys.creator, json_body={"name": "builder-1"})
    assert again.status == 409
    assert again.error_code == "conflict"
    # Another tenant may use the same name.
    assert (
        api.post("/agents", key=keys.other_creator, json_body={"name": "builder-1"}).status == 201
    )
    listed = api.get("/agents", key=keys.viewer).json["items"]
    assert [a["name"] for a in listed] == ["builder-1"]


def test_registration_is_one_transaction(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    register(api, keys.creator)
    writes = {k: v for k, v in aws_calls.items() if k != "dynamodb.GetItem"}  # key lookup
    assert writes.get("dynamodb.TransactWriteItems") == 1
    assert "dynamodb.PutItem" not in writes


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "Builder"},
        {"name": "-builder"},
        {"name": "x" * 65},
        {"name": 7},
        {"name": "ok", "region": ""},
        {"name": "ok", "labels": {"k": 1}},
        {"name": "ok", "labels": ["k"]},
        {"name": "ok", "secret": "mine"},
        {"name": "ok", "status": "healthy"},
    ],
)
def test_bad_registration_is_a_validation_error(
    api: ApiClient, keys: Keys, body: dict[str, Any]
) -> None:
    result = api.post("/agents", key=keys.creator, json_body=body)
    assert result.status == 400
    assert result.error_code == "validation_error"


def test_viewer_cannot_register(api: ApiClient, keys: Keys) -> None:
    result = api.post("/agents", key=keys.viewer, json_body={"name": "builder-1"})
    assert result.status == 403
    assert api.post("/agents", json_body={"name": "builder-1"}).status == 401


def test_another_tenants_agent_is_not_found(api: ApiClient, keys: Keys) -> None:
    theirs = register(api, keys.other_creator)
    mine = api.get(f"/agents/{theirs['agent_id']}", key=keys.viewer)
    unknown = api.get(f"/agents/{agents.new_agent_id('acme')}", key=keys.viewer)
    garbage = api.get("/agents/nope", key=keys.viewer)
    for result in (mine, unknown, garbage):
        assert result.status == 404
        assert result.json["error"]["message"] == "No such agent."
    assert api.get("/agents", key=keys.viewer).json["items"] == []


def _names(api: ApiClient, key: str, **query: str) -> list[str]:
    result = api.get("/agents", key=key, query=query)
    assert result.status == 200, result.text
    return [a["name"] for a in result.json["items"]]


def test_list_filters_by_status_and_region(api: ApiClient, keys: Keys) -> None:
    register(api, keys.creator, name="a", region="eu")
    register(api, keys.creator, name="b", region="us")
    register(api, keys.creator, name="c", region="eu")
    clock.set_clock(lambda: NOW + 120)  # all three silent for 2 minutes
    sweeping.sweep()
    clock.set_clock(lambda: NOW)
    register(api, keys.creator, name="d", region="eu")
    assert _names(api, keys.viewer) == ["a", "b", "c", "d"]
    assert _names(api, keys.viewer, region="eu") == ["a", "c", "d"]
    assert _names(api, keys.viewer, status="unhealthy") == ["a", "b", "c"]
    assert _names(api, keys.viewer, status="unhealthy", region="us") == ["b"]
    assert _names(api, keys.viewer, status="dead") == []


@pytest.mark.parametrize(
    "query",
    [{"status": "sleepy"}, {"region": ""}, {"limit": "0"}, {"limit": "201"}, {"colour": "red"}],
)
def test_bad_list_query_is_a_validation_error(
    api: ApiClient, keys: Keys, query: dict[str, str]
) -> None:
    result = api.get("/agents", key=keys.viewer, query=query)
    assert result.status == 400
    assert result.error_code == "validation_error"


def test_pages_walk_every_agent_once(api: ApiClient, keys: Keys) -> None:
    names = [f"agent-{i:02d}" for i in range(7)]
    for name in names:
        register(api, keys.creator, name=name, region="eu" if name[-1] in "0246" else "us")
    seen: list[str] = []
    query = {"limit": "3"}
    while True:
        body = api.get("/agents", key=keys.viewer, query=query).json
        seen += [a["name"] for a in body["items"]]
        assert body["has_more"] is (body["next_cursor"] is not None)
        if not body["has_more"]:
            break
        assert len(body["items"]) == 3
        query = {"limit": "3", "cursor": body["next_cursor"]}
    assert seen == names
    filtered = api.get("/agents", key=keys.viewer, query={"limit": "2", "region": "eu"}).json
    assert [a["name"] for a in filtered["items"]] == ["agent-00", "agent-02"]
    rest = api.get(
        "/agents",
        key=keys.viewer,
        query={"limit": "2", "region": "eu", "cursor": filtered["next_cursor"]},
    ).json
    assert [a["name"] for a in rest["items"]] == ["agent-04", "agent-06"]
    assert rest["has_more"] is False


def test_cursor_is_bound_to_tenant_and_query(api: ApiClient, keys: Keys) -> None:
    for name in ("a", "b", "c"):
        register(api, keys.creator, name=name)
        register(api, keys.other_creator, name=name)
    token = api.get("/agents", key=keys.viewer, query={"limit": "1"}).json["next_cursor"]
    assert token
    elsewhere = api.get("/agents", key=keys.other_viewer, query={"cursor": token})
    other_query = api.get("/agents", key=keys.viewer, query={"cursor": token, "region": "eu"})
    altered = api.get("/agents", key=keys.viewer, query={"cursor": token[:-2] + "xx"})
    for result in (elsewhere, other_query, altered):
        assert result.status == 400
        assert result.error_code == "invalid_cursor"
