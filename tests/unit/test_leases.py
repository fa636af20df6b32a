"""Leased consumption: POST /inbox/lease, /inbox/ack (by lease), /inbox/release, expiry
by time alone, exactly one holder under concurrency, call counts and the rollup.
The quarantine is in test_leases_quarantine.py; validation and tenants in
test_leases_access.py."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws, ddb
from common.triggers.inbox import listing, place
from tests.conftest import ApiClient, Keys
from tests.unit.leases_support import (  # noqa: F401 - fixtures
    _ids,
    _inbox,
    _status,
    _today,
    create_event,
    lease_inbox,
    lifted_rate_limit,
    moment_fixture,
)


@pytest.fixture
def serialised_transactions() -> Iterator[None]:
    """moto takes no lock (docs/triggers.md, "Testing notes"): one re-entrant lock
    around its writes and reads gives it DynamoDB's serialisable transactions, so the
    concurrency test checks our conditions, not moto's thread safety."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(original: Any) -> Any:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return run

    names = ("transact_write_items", "update_item", "put_item", "delete_item", "query", "get_item")
    patches = [
        mock.patch.object(DynamoDBBackend, n, locked(getattr(DynamoDBBackend, n))) for n in names
    ]
    for patch in patches:
        patch.start()
    yield
    for patch in patches:
        patch.stop()


# ------------------------------------------------------------------ lease


def test_lease_returns_oldest_available_with_attempts(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    created = [create_event(api, keys.creator, n) for n in range(5)]
    held = lease_inbox(api, keys.creator, limit=3, lease_seconds=60)
    assert set(held) == {"lease_id", "expires_at", "items"}
    assert _ids(held["items"]) == created[:3]
    assert set(held["items"][0]) == {
        "event_id",
        "event_type",
        "payload",
        "source",
        "occurred_at",
        "received_at",
        "attempts",
    }
    assert [item["attempts"] for item in held["items"]] == [1, 1, 1]
    assert held["items"][0]["payload"] == {"n": 0}
    assert clock.parse_iso(held["expires_at"]).timestamp() == pytest.approx(moment[0] + 60, abs=1)
    # The next lease gets the rest, not the held ones.
    assert _ids(lease_inbox(api, keys.creator)["items"]) == created[3:]
    assert lease_inbox(api, keys.creator)["items"] == []
    # GET /inbox still lists every pending event, leased or not, with its lease.
    listed = _inbox(api, keys.viewer)
    assert _ids(listed) == created
    assert {item["attempts"] for item in listed} == {1}
    assert listed[0]["leased_until"] == held["expires_at"]
    assert _today("acme")["events_leased"] == 5


def test_whole_floats_are_integers(api: ApiClient, keys: Keys, moment: list[float]) -> None:
    """JSON Schema's `integer` includes 30.0 (the OpenAPI document promises it)."""
    create_event(api, keys.creator, 1)
    held = lease_inbox(api, keys.creator, limit=1.0, lease_seconds=30.0)
    assert len(held["items"]) == 1


def test_defaults_and_an_empty_body(api: ApiClient, keys: Keys, moment: list[float]) -> None:
    created = [create_event(api, keys.creator, n) for n in range(12)]
    assert api.post("/inbox/lease", key=keys.creator, body="").error_code == "invalid_json"
    result = api.post("/inbox/lease", key=keys.creator, json_body={})
    assert result.status == 200
    assert _ids(result.json["items"]) == created[:10]  # limit 10
    expires = clock.parse_iso(result.json["expires_at"]).timestamp()
    assert expires == pytest.approx(moment[0] + 300, abs=1)  # lease_seconds 300


def test_empty_lease_writes_nothing_and_its_id_acks_nothing(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    lease_inbox(api, keys.creator)  # warm: key verified, tokens leased
    aws_calls.clear()
    held = lease_inbox(api, keys.creator)
    assert held["items"] == []
    assert aws_calls == Counter({"dynamodb.Query": 1})
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"lease_id": held["lease_id"]})
    assert ack.json == {"acknowledged": [], "lease_lost": [], "not_found": []}


def test_event_type_lease_uses_the_type_pool(
    api: ApiClient, keys: Keys, moment: list[float], aws_calls: Counter[str]
) -> None:
    orders = [create_event(api, keys.creator, n, "order") for n in range(3)]
    for n in range(3):
        create_event(api, keys.creator, n, "refund")
    aws_calls.clear()
    held = lease_inbox(api, keys.creator, event_type="order", limit=10)
    assert _ids(held["items"]) == orders
    assert aws_calls["dynamodb.Query"] == 1
    assert aws_calls["dynamodb.TransactWriteItems"] == 1


def test_lease_is_one_query_and_one_transaction_reading_only_what_it_leases(
    api: ApiClient, keys: Keys, moment: list[float], aws_calls: Counter[str]
) -> None:
    """Leased and delivered events behind the available ones are never read."""
    for n in range(40):
        create_event(api, keys.creator, n)
    first = lease_inbox(api, keys.creator, limit=20)  # 20 leased
    api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": _ids(first["items"][:10])})
    reads: list[int] = []

    def after(parsed: dict[str, Any], **_: Any) -> None:
        reads.append(len(parsed.get("Items", [])))

    aws.dynamodb().meta.events.register("after-call.dynamodb.Query", after)
    aws_calls.clear()
    held = lease_inbox(api, keys.creator, limit=5)
    assert len(held["items"]) == 5
    assert aws_calls == Counter({"dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1})
    assert reads == [5]


def test_concurrent_leasers_never_share_an_event(
    api: ApiClient, keys: Keys, serialised_transactions: None
) -> None:
    created = {create_event(api, keys.creator, n) for n in range(60)}
    barrier = threading.Barrier(16)

    def lease(_: int) -> list[str]:
        barrier.wait()
        got: list[str] = []
        for _ in range(6):
            result = api.post("/inbox/lease", key=keys.creator, json_body={"limit": 3})
            assert result.status in (200, 503), result.text
            if result.status == 200 and result.json["items"]:
                ids = _ids(result.json["items"])
                got += ids
                if len(got) % 2:  # half acknowledged by lease id, half kept leased
                    body = {"lease_id": result.json["lease_id"]}
                    ack = api.post("/inbox/ack", key=keys.creator, json_body=body)
                    assert ack.json["acknowledged"] == ids, ack.text
        return got

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lease, range(16)))
    every = [event_id for got in results for event_id in got]
    assert len(every) == len(set(every)), "an event was held by two leases at once"
    # Whatever was not handed out is still available: nothing lost.
    rest = _ids(lease_inbox(api, keys.creator, limit=100)["items"])
    assert set(every) | set(rest) == created
    assert not set(every) & set(rest)
    assert _today("acme")["events_leased"] == len(created)
    delivered = _today("acme").get("events_delivered", 0)
    assert listing.summary(place.inbox("acme"))[0] == len(created) - delivered


def test_sharded_leases_merge_oldest_first_across_shards(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch, moment: list[float]
) -> None:
    monkeypatch.setenv("DOCKHAND_INBOX_SHARDS", "3")
    settings.cache_clear()
    created = [create_event(api, keys.creator, n) for n in range(15)]
    shards = {
        aws.dynamodb().get_item(
            TableName=settings().events_table,
            Key=ddb.serialize({"pk": f"T#acme#E#{event_id}", "sk": "E"}),
        )["Item"]["gsi1pk"]["S"]
        for event_id in created
    }
    assert len(shards) > 1
    seen: list[str] = []
    for _ in range(3):
        seen += _ids(lease_inbox(api, keys.creator, limit=5)["items"])
    assert seen == created  # oldest first across shards within and between pages


# ------------------------------------------------------------------ expiry


def test_expired_lease_frees_its_events_by_time_alone(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    created = [create_event(api, keys.creator, n) for n in range(2)]
    first = lease_inbox(api, keys.creator, lease_seconds=5)
    assert lease_inbox(api, keys.creator)["items"] == []
    moment[0] += 5.5
    again = lease_inbox(api, keys.creator, lease_seconds=30)
    assert _ids(again["items"]) == created
    assert [item["attempts"] for item in again["items"]] == [2, 2]
    # The first holder lost them: another live lease holds them now.
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"lease_id": first["lease_id"]})
    assert ack.json == {"acknowledged": [], "lease_lost": created, "not_found": []}
    assert _status(api, keys.viewer, created[0]) == "pending"
    # The second holder acknowledges them.
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"lease_id": again["lease_id"]})
    assert ack.json == {"acknowledged": created, "lease_lost": [], "not_found": []}
    assert _inbox(api, keys.viewer) == []


def test_expired_lease_nobody_else_holds_is_still_acknowledged(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    event_id = create_event(api, keys.creator, 1)
    held = lease_inbox(api, keys.creator, lease_seconds=5)
    moment[0] += 10
    body = {"lease_id": held["lease_id"], "event_ids": [event_id]}
    assert api.post("/inbox/ack", key=keys.creator, json_body=body).json == {
        "acknowledged": [event_id],
        "lease_lost": [],
        "not_found": [],
    }
    assert _status(api, keys.viewer, event_id) == "delivered"
    assert _today("acme")["events_delivered"] == 1
    assert listing.summary(place.inbox("acme"))[0] == 0


def test_ack_by_lease_is_one_transaction_and_counts_once(
    api: ApiClient, keys: Keys, moment: list[float], aws_calls: Counter[str]
) -> None:
    created = [create_event(api, keys.creator, n) for n in range(3)]
    held = lease_inbox(api, keys.creator)
    aws_calls.clear()
    body = {"lease_id": held["lease_id"], "event_ids": created}
    result = api.post("/inbox/ack", key=keys.creator, json_body=body)
    assert result.json["acknowledged"] == created
    assert aws_calls == Counter({"dynamodb.TransactWriteItems": 1})
    # Again: already delivered, acknowledged again, not counted again.
    again = api.post("/inbox/ack", key=keys.creator, json_body=body)
    assert again.json["acknowledged"] == created
    assert _today("acme")["events_delivered"] == 3
    assert listing.summary(place.inbox("acme")) == (0, None)


def test_ack_by_lease_reports_unknown_ids_as_not_found(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    event_id = create_event(api, keys.creator, 1)
    held = lease_inbox(api, keys.creator)
    body = {"lease_id": held["lease_id"], "event_ids": [event_id, "nope", event_id]}
    result = api.post("/inbox/ack", key=keys.creator, json_body=body)
    assert result.json == {"acknowledged": [event_id], "lease_lost": [], "not_found": ["nope"]}


# ------------------------------------------------------------------ release


def test_release_without_delay_makes_events_available_now(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    created = [create_event(api, keys.creator, n) for n in range(2)]
    held = lease_inbox(api, keys.creator)
    result = api.post("/inbox/release", key=keys.creator, json_body={"lease_id": held["lease_id"]})
    assert result.json == {"released": created, "not_found": []}
    again = lease_inbox(api, keys.creator)
    assert _ids(again["items"]) == created
    assert [item["attempts"] for item in again["items"]] == [2, 2]  # attempts stay counted
    assert _today("acme")["events_released"] == 2
    # The old lease holds nothing any more.
    result = api.post("/inbox/release", key=keys.creator, json_body={"lease_id": held["lease_id"]})
    assert result.json == {"released": [], "not_found": created}


def test_release_with_delay_hides_events_until_it_passes(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    event_id = create_event(api, keys.creator, 1)
    held = lease_inbox(api, keys.creator, lease_seconds=600)
    body = {"lease_id": held["lease_id"], "event_ids": [event_id], "delay_seconds": 30}
    assert api.post("/inbox/release", key=keys.creator, json_body=body).json["released"] == [
        event_id
    ]
    assert _inbox(api, keys.viewer)[0]["leased_until"] is None
    moment[0] += 20
    assert lease_inbox(api, keys.creator)["items"] == []
    moment[0] += 11
    assert _ids(lease_inbox(api, keys.creator)["items"]) == [event_id]


def test_release_of_an_expired_lease_is_not_found(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    event_id = create_event(api, keys.creator, 1)
    held = lease_inbox(api, keys.creator, lease_seconds=5)
    moment[0] += 6
    body = {"lease_id": held["lease_id"], "event_ids": [event_id, "x"]}
    assert api.post("/inbox/release", key=keys.creator, json_body=body).json == {
        "released": [],
        "not_found": [event_id, "x"],
    }


# ------------------------------------------------------------------ figures


def test_rollup_counts_leased_events(api: ApiClient, keys: Keys, moment: list[float]) -> None:
    from common.stats import rollup

    created = [create_event(api, keys.creator, n) for n in range(4)]
    held = lease_inbox(api, keys.creator, limit=3, lease_seconds=30)
    body = {"lease_id": held["lease_id"], "event_ids": [created[0]], "delay_seconds": 60}
    api.post("/inbox/release", key=keys.creator, json_body=body)  # delayed, not leased
    assert listing.leased_count(place.inbox("acme")) == 2
    assert listing.leased_count(place.inbox("globex")) == 0
    figures = rollup.live_figures("acme", clock.day_of(clock.now()), _today("acme"))
    assert figures["inbox_leased"] == 2
    assert figures["events_leased"] == 3
    assert figures["events_released"] == 1
    moment[0] += 31
    assert listing.leased_count(place.inbox("acme")) == 0


# ------------------------------------------------------------------ faults


def test_a_transaction_conflict_on_lease_is_retried(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    from botocore.exceptions import ClientError

    event_id = create_event(api, keys.creator, 1)
    client = aws.dynamodb()
    real = client.transact_write_items
    calls = {"n": 0}

    def conflict_once(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "x"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return real(**kwargs)

    with mock.patch.object(client, "transact_write_items", side_effect=conflict_once):
        held = lease_inbox(api, keys.creator)
    assert _ids(held["items"]) == [event_id]
    assert calls["n"] == 2
