"""GET /inbox and POST /inbox/ack: order, pagination, one Query per page per shard,
cursors bound to tenant and query, acknowledgement semantics and isolation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import counters
from common.triggers.inbox import listing, place
from tests.conftest import ApiClient, Keys


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many requests per test: keep the limiter out of the way (it has its own tests)."""
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "3600")
    settings.cache_clear()


@pytest.fixture
def ticking_clock() -> Iterator[None]:
    """Each call a millisecond later: ids and received_at strictly increase."""
    moment = [1_767_225_600.0]

    def tick() -> float:
        moment[0] += 0.001
        return moment[0]

    clock.set_clock(tick)
    yield
    clock.set_clock(None)


def _create(api: ApiClient, key: str, n: int, event_type: str = "t") -> str:
    result = api.post("/events", key=key, json_body={"event_type": event_type, "payload": {"n": n}})
    assert result.status == 201, result.text
    return str(result.json["event_id"])


def _ids(result: Any) -> list[str]:
    return [item["event_id"] for item in result.json["items"]]


def test_inbox_lists_pending_oldest_first_with_contract_items(
    api: ApiClient, keys: Keys, ticking_clock: None
) -> None:
    created = [_create(api, keys.creator, n) for n in range(3)]
    result = api.get("/inbox", key=keys.viewer)
    assert result.status == 200
    assert result.json["next_cursor"] is None
    assert result.json["has_more"] is False
    assert _ids(result) == created
    first = result.json["items"][0]
    assert set(first) == {
        "event_id",
        "event_type",
        "payload",
        "source",
        "occurred_at",
        "received_at",
        "attempts",
        "leased_until",
    }
    assert first["payload"] == {"n": 0}
    assert (first["attempts"], first["leased_until"]) == (0, None)


def test_empty_inbox(api: ApiClient, keys: Keys) -> None:
    result = api.get("/inbox", key=keys.viewer)
    assert result.json == {"items": [], "next_cursor": None, "has_more": False}


def test_pagination_walks_every_pending_event_once(
    api: ApiClient, keys: Keys, ticking_clock: None
) -> None:
    created = [_create(api, keys.creator, n) for n in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        result = api.get("/inbox", key=keys.viewer, query=query)
        assert result.status == 200
        seen += _ids(result)
        pages += 1
        cursor = result.json["next_cursor"]
        assert result.json["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == created
    assert pages == 3


def test_page_costs_one_query_whatever_the_backlog(
    api: ApiClient, keys: Keys, aws_calls: Counter[str], ticking_clock: None
) -> None:
    delivered = [_create(api, keys.creator, n) for n in range(30)]
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": delivered})
    assert ack.json["acknowledged"] == delivered
    for n in range(30, 60):
        _create(api, keys.creator, n)
    reads: list[int] = []
    client_calls: list[dict[str, Any]] = []

    from common.store import aws

    def spy(params: dict[str, Any], **_: Any) -> None:
        client_calls.append(params)

    def after(parsed: dict[str, Any], **_: Any) -> None:
        reads.append(len(parsed.get("Items", [])))

    aws.dynamodb().meta.events.register("provide-client-params.dynamodb.Query", spy)
    aws.dynamodb().meta.events.register("after-call.dynamodb.Query", after)
    api.get("/inbox", key=keys.viewer, query={"limit": "1"})  # warm: key verified, tokens leased
    aws_calls.clear()
    reads.clear()
    client_calls.clear()
    result = api.get("/inbox", key=keys.viewer, query={"limit": "5"})
    assert len(result.json["items"]) == 5
    assert aws_calls == Counter({"dynamodb.Query": 1})
    assert reads == [6]  # page size + 1: nothing read and thrown away
    assert client_calls[0]["IndexName"] == "gsi1"


def test_event_type_filter_uses_the_type_index(
    api: ApiClient, keys: Keys, aws_calls: Counter[str], ticking_clock: None
) -> None:
    orders = [_create(api, keys.creator, n, "order") for n in range(3)]
    for n in range(3):
        _create(api, keys.creator, n, "refund")
    api.get("/inbox", key=keys.viewer)  # warm: key verified, tokens leased
    aws_calls.clear()
    result = api.get("/inbox", key=keys.viewer, query={"event_type": "order"})
    assert _ids(result) == orders
    assert aws_calls == Counter({"dynamodb.Query": 1})


def test_cursor_is_bound_to_tenant_and_event_type(
    api: ApiClient, keys: Keys, ticking_clock: None
) -> None:
    for n in range(3):
        _create(api, keys.creator, n, "order")
    cursor = api.get("/inbox", key=keys.viewer, query={"limit": "1"}).json["next_cursor"]
    typed = api.get("/inbox", key=keys.viewer, query={"limit": "1", "event_type": "order"})
    for key, query in [
        (keys.other_viewer, {"cursor": cursor}),
        (keys.viewer, {"cursor": cursor, "event_type": "order"}),
        (keys.viewer, {"cursor": typed.json["next_cursor"]}),
        (keys.viewer, {"cursor": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")}),
        (keys.viewer, {"cursor": "garbage"}),
    ]:
        result = api.get("/inbox", key=key, query=query)
        assert (result.status, result.error_code) == (400, "invalid_cursor")
    # The page size may change between pages: the cursor is not bound to it.
    assert api.get("/inbox", key=keys.viewer, query={"cursor": cursor, "limit": "5"}).status == 200


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"event_type": ""}, {"sort": "desc"}],
)
def test_bad_inbox_queries(api: ApiClient, keys: Keys, query: dict[str, str]) -> None:
    result = api.get("/inbox", key=keys.viewer, query=query)
    assert (result.status, result.error_code) == (400, "validation_error")


def test_inbox_is_per_tenant(api: ApiClient, keys: Keys) -> None:
    _create(api, keys.creator, 1)
    assert api.get("/inbox", key=keys.other_viewer).json["items"] == []
    assert api.get("/inbox").status == 401


def test_ack_reports_acknowledged_and_not_found(
    api: ApiClient, keys: Keys, ticking_clock: None
) -> None:
    mine = [_create(api, keys.creator, n) for n in range(3)]
    theirs = _create(api, keys.other_creator, 9)
    api.delete(f"/events/{mine[0]}", key=keys.creator)  # already delivered: acknowledged again
    body = {"event_ids": [mine[0], mine[1], theirs, "nope", mine[1], "01ARZ3NDEKTSV4RRFFQ69G5FAV"]}
    result = api.post("/inbox/ack", key=keys.creator, json_body=body)
    assert result.status == 200
    assert result.json == {
        "acknowledged": [mine[0], mine[1]],
        "lease_lost": [],
        "not_found": [theirs, "nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    }
    assert _ids(api.get("/inbox", key=keys.viewer)) == [mine[2]]
    # The other tenant's event is untouched and still in its inbox.
    assert _ids(api.get("/inbox", key=keys.other_viewer)) == [theirs]
    today = counters.read_day("acme", clock.day_of(clock.now())) or {}
    assert today["events_delivered"] == 2
    assert listing.summary(place.inbox("acme"))[0] == 1


def test_ack_is_one_transaction_per_96_ids_without_reads(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    created = [_create(api, keys.creator, n) for n in range(100)]
    aws_calls.clear()
    result = api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": created})
    assert result.json["acknowledged"] == created
    # 100 ids do not fit one transaction with the counters: two chunks, and no reads.
    assert aws_calls["dynamodb.TransactWriteItems"] == 2
    assert not {"dynamodb.GetItem", "dynamodb.Query", "dynamodb.BatchGetItem"} & set(aws_calls)
    assert api.get("/inbox", key=keys.viewer).json["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"event_ids": []},
        {"event_ids": ["x"] * 101},
        {"event_ids": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"event_ids": [1]},
        {"event_ids": ["a"], "all": True},
        {},
    ],
)
def test_bad_ack_bodies(api: ApiClient, keys: Keys, body: dict[str, Any]) -> None:
    result = api.post("/inbox/ack", key=keys.creator, json_body=body)
    assert (result.status, result.error_code) == (400, "validation_error")


def test_ack_needs_a_creator(api: ApiClient, keys: Keys) -> None:
    event_id = _create(api, keys.creator, 1)
    result = api.post("/inbox/ack", key=keys.viewer, json_body={"event_ids": [event_id]})
    assert (result.status, result.error_code) == (403, "forbidden")
    assert api.post("/inbox/ack", json_body={"event_ids": [event_id]}).status == 401


def test_sharded_inbox_merges_shards_in_order(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch, aws_calls: Counter[str]
) -> None:
    monkeypatch.setenv("DOCKHAND_INBOX_SHARDS", "2")
    settings.cache_clear()
    moment = [1_767_225_600.0]

    def tick() -> float:
        moment[0] += 0.001
        return moment[0]

    clock.set_clock(tick)
    created = [_create(api, keys.creator, n) for n in range(12)]
    from common.store import aws

    shards = {
        aws.dynamodb().get_item(
            TableName=settings().events_table,
            Key={"pk": {"S": f"T#acme#E#{event_id}"}, "sk": {"S": "E"}},
        )["Item"]["gsi1pk"]["S"]
        for event_id in created
    }
    assert shards == {"T#acme#S0", "T#acme#S1"}  # 12 random picks: both shards used
    seen: list[str] = []
    cursor: str | None = None
    api.get("/inbox", key=keys.viewer)  # warm: key verified, tokens leased
    while True:
        aws_calls.clear()
        query = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        result = api.get("/inbox", key=keys.viewer, query=query)
        assert aws_calls == Counter({"dynamodb.Query": 2})  # one per shard
        seen += _ids(result)
        cursor = result.json["next_cursor"]
        if cursor is None:
            break
    assert seen == created
    assert listing.summary(place.inbox("acme")) == (
        12,
        api.get(f"/events/{created[0]}", key=keys.viewer).json["received_at"],
    )
