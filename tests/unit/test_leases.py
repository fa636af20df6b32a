"""Leased consumption: POST /inbox/lease, /inbox/ack (by lease), /inbox/release, the
quarantine, expiry by time alone, exactly one holder under concurrency, call counts,
validation of every field and tenant isolation."""

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
from common.store import aws, counters, ddb
from common.triggers.inbox import listing, place
from tests.conftest import ApiClient, Keys
from tests.unit import leases_support
from tests.unit.leases_support import create_event, lease_inbox


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    leases_support.generous_rate_limit(monkeypatch)


@pytest.fixture
def moment() -> Iterator[list[float]]:
    yield from leases_support.moving_clock()


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


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in items]


def _inbox(api: ApiClient, key: str) -> list[dict[str, Any]]:
    return list(api.get("/inbox", key=key).json["items"])


def _today(tenant: str) -> dict[str, int]:
    return counters.read_day(tenant, clock.day_of(clock.now())) or {}


def _status(api: ApiClient, key: str, event_id: str) -> str:
    return str(api.get(f"/events/{event_id}", key=key).json["status"])


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


# ------------------------------------------------------------------ quarantine


@pytest.fixture
def two_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_MAX_ATTEMPTS", "2")
    settings.cache_clear()


def test_quarantine_after_max_attempts_when_the_last_lease_expires(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    event_id = create_event(api, keys.creator, 1)
    later = create_event(api, keys.creator, 2)
    api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": [later]})
    lease_inbox(api, keys.creator, lease_seconds=5)
    moment[0] += 6
    last = lease_inbox(api, keys.creator, lease_seconds=5)
    assert last["items"][0]["attempts"] == 2
    # While the last lease runs the event is pending and listed, not quarantined.
    assert _status(api, keys.viewer, event_id) == "pending"
    assert api.get("/inbox/quarantine", key=keys.viewer).json["items"] == []
    moment[0] += 6
    # The last lease ended: quarantined at once, with no job having run.
    assert _status(api, keys.viewer, event_id) == "quarantined"
    assert _inbox(api, keys.viewer) == []
    listed = api.get("/inbox/quarantine", key=keys.viewer).json
    assert _ids(listed["items"]) == [event_id]
    assert listed["items"][0]["attempts"] == 2
    assert listed["items"][0]["quarantined_at"] == last["expires_at"]
    # No lease returns it; the next lease moves it out of the inbox for good.
    assert lease_inbox(api, keys.creator)["items"] == []
    assert _today("acme")["events_quarantined"] == 1
    assert listing.summary(place.inbox("acme")) == (0, None)
    stored = aws.dynamodb().get_item(
        TableName=settings().events_table,
        Key=ddb.serialize({"pk": f"T#acme#E#{event_id}", "sk": "E"}),
    )["Item"]
    assert stored["status"]["S"] == "quarantined"
    assert not {"gsi1pk", "gsi2pk", "gsi3sk"} & set(stored)
    listed_again = api.get("/inbox/quarantine", key=keys.viewer).json["items"]
    assert listed_again == listed["items"]


def test_release_of_the_last_attempt_quarantines_at_once(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    event_id = create_event(api, keys.creator, 1)
    first = lease_inbox(api, keys.creator)
    api.post("/inbox/release", key=keys.creator, json_body={"lease_id": first["lease_id"]})
    last = lease_inbox(api, keys.creator)
    body = {"lease_id": last["lease_id"], "delay_seconds": 60}
    assert api.post("/inbox/release", key=keys.creator, json_body=body).json == {
        "released": [event_id],
        "not_found": [],
    }
    assert _status(api, keys.viewer, event_id) == "quarantined"
    assert _ids(api.get("/inbox/quarantine", key=keys.viewer).json["items"]) == [event_id]
    assert _today("acme")["events_quarantined"] == 1
    assert _today("acme")["events_released"] == 2
    assert listing.summary(place.inbox("acme"))[0] == 0


def test_requeue_makes_quarantined_events_pending_with_attempts_zero(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    moved, waiting = create_event(api, keys.creator, 1), create_event(api, keys.creator, 2)
    for _ in range(2):
        lease_inbox(api, keys.creator, lease_seconds=5)
        moment[0] += 6
    lease_inbox(api, keys.creator)  # moves both out of the inbox
    assert _ids(api.get("/inbox/quarantine", key=keys.viewer).json["items"]) == [moved, waiting]
    body = {"event_ids": [moved, "nope", moved]}
    result = api.post("/inbox/quarantine/requeue", key=keys.creator, json_body=body)
    assert result.json == {"requeued": [moved], "not_found": ["nope"]}
    assert _status(api, keys.viewer, moved) == "pending"
    listed = _inbox(api, keys.viewer)
    assert _ids(listed) == [moved]
    assert listed[0]["attempts"] == 0
    assert listing.summary(place.inbox("acme"))[0] == 1
    held = lease_inbox(api, keys.creator)
    assert _ids(held["items"]) == [moved]
    assert held["items"][0]["attempts"] == 1
    # A pending (not quarantined) event is not requeued.
    again = api.post(
        "/inbox/quarantine/requeue", key=keys.creator, json_body={"event_ids": [moved]}
    )
    assert again.json == {"requeued": [], "not_found": [moved]}


def test_requeue_of_a_last_lease_that_no_lease_has_moved_yet(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    event_id = create_event(api, keys.creator, 1)
    for _ in range(2):
        lease_inbox(api, keys.creator, lease_seconds=5)
        moment[0] += 6
    body = {"event_ids": [event_id]}
    assert api.post("/inbox/quarantine/requeue", key=keys.creator, json_body=body).json == {
        "requeued": [event_id],
        "not_found": [],
    }
    assert _status(api, keys.viewer, event_id) == "pending"
    assert api.get("/inbox/quarantine", key=keys.viewer).json["items"] == []
    assert lease_inbox(api, keys.creator)["items"][0]["attempts"] == 1


def test_delete_acknowledges_from_any_state(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    leased, stored_q, last_lease = (create_event(api, keys.creator, n) for n in range(3))
    for _ in range(2):
        lease_inbox(api, keys.creator, lease_seconds=5)
        moment[0] += 6
    lease_inbox(api, keys.creator)  # all three quarantined and moved
    requeue = {"event_ids": [leased, last_lease]}
    api.post("/inbox/quarantine/requeue", key=keys.creator, json_body=requeue)
    lease_inbox(api, keys.creator, lease_seconds=5)  # leased, last_lease: attempt 1
    moment[0] += 6
    lease_inbox(api, keys.creator, limit=1, lease_seconds=60)  # `leased` held, attempt 2 (last)
    moment[0] += 0.1
    for event_id in (leased, stored_q, last_lease):
        assert api.delete(f"/events/{event_id}", key=keys.creator).status == 204
        assert _status(api, keys.viewer, event_id) == "delivered"
    assert _inbox(api, keys.viewer) == []
    assert api.get("/inbox/quarantine", key=keys.viewer).json["items"] == []
    assert listing.summary(place.inbox("acme"))[0] == 0
    assert _today("acme")["events_delivered"] == 3


def test_quarantine_pages(
    api: ApiClient, keys: Keys, moment: list[float], two_attempts: None
) -> None:
    created = [create_event(api, keys.creator, n) for n in range(5)]
    for _ in range(2):
        lease_inbox(api, keys.creator, lease_seconds=5)
        moment[0] += 6
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        result = api.get("/inbox/quarantine", key=keys.viewer, query=query)
        assert result.status == 200
        seen += _ids(result.json["items"])
        cursor = result.json["next_cursor"]
        if cursor is None:
            break
    assert seen == created
    assert _inbox(api, keys.viewer) == []
    bad = api.get("/inbox/quarantine", key=keys.viewer, query={"cursor": "garbage"})
    assert (bad.status, bad.error_code) == (400, "invalid_cursor")


# ------------------------------------------------------------------ isolation and validation


def test_another_tenants_lease_is_unknown(api: ApiClient, keys: Keys, moment: list[float]) -> None:
    mine = create_event(api, keys.creator, 1)
    theirs = create_event(api, keys.other_creator, 2)
    held = lease_inbox(api, keys.creator)
    assert _ids(held["items"]) == [mine]
    other = lease_inbox(api, keys.other_creator)
    assert _ids(other["items"]) == [theirs]
    forged = held["lease_id"][:-1] + ("A" if held["lease_id"][-1] != "A" else "B")
    for lease_id in (held["lease_id"], "nope", forged, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "é" * 42):
        key = keys.other_creator if lease_id == held["lease_id"] else keys.creator
        for path, body in (
            ("/inbox/ack", {"lease_id": lease_id}),
            ("/inbox/ack", {"lease_id": lease_id, "event_ids": [mine]}),
            ("/inbox/release", {"lease_id": lease_id}),
        ):
            result = api.post(path, key=key, json_body=body)
            assert (result.status, result.error_code) == (404, "not_found"), (path, lease_id)
    # Another tenant's event ids are unknown everywhere.
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": [theirs]})
    assert ack.json["not_found"] == [theirs]
    requeue = api.post(
        "/inbox/quarantine/requeue", key=keys.creator, json_body={"event_ids": [theirs]}
    )
    assert requeue.json == {"requeued": [], "not_found": [theirs]}
    release = {"lease_id": held["lease_id"], "event_ids": [theirs]}
    assert api.post("/inbox/release", key=keys.creator, json_body=release).json == {
        "released": [],
        "not_found": [theirs],
    }
    assert api.get("/inbox/quarantine", key=keys.other_viewer).json["items"] == []
    # Nothing of globex moved.
    assert _inbox(api, keys.other_viewer)[0]["leased_until"] == other["expires_at"]


def test_roles(api: ApiClient, keys: Keys) -> None:
    for path in ("/inbox/lease", "/inbox/release", "/inbox/quarantine/requeue"):
        assert api.post(path, key=keys.viewer, json_body={}).status == 403
        assert api.post(path, json_body={}).status == 401
    assert api.get("/inbox/quarantine", key=keys.viewer).status == 200
    assert api.get("/inbox/quarantine").status == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/inbox/lease", {"limit": 0}, "limit"),
        ("/inbox/lease", {"limit": 101}, "limit"),
        ("/inbox/lease", {"limit": "5"}, "limit"),
        ("/inbox/lease", {"limit": 2.5}, "limit"),
        ("/inbox/lease", {"limit": True}, "limit"),
        ("/inbox/lease", {"lease_seconds": 4}, "lease_seconds"),
        ("/inbox/lease", {"lease_seconds": 3601}, "lease_seconds"),
        ("/inbox/lease", {"lease_seconds": True}, "lease_seconds"),
        ("/inbox/lease", {"event_type": ""}, "event_type"),
        ("/inbox/lease", {"event_type": "x" * 256}, "event_type"),
        ("/inbox/lease", {"event_type": 5}, "event_type"),
        ("/inbox/lease", {"visibility": 30}, "visibility"),
        ("/inbox/ack", {}, "event_ids"),
        ("/inbox/ack", {"lease_id": ""}, "lease_id"),
        ("/inbox/ack", {"lease_id": 7}, "lease_id"),
        ("/inbox/ack", {"lease_id": "x" * 129}, "lease_id"),
        ("/inbox/ack", {"lease_id": "abc", "event_ids": []}, "event_ids"),
        ("/inbox/ack", {"event_ids": ["x"] * 101}, "event_ids"),
        ("/inbox/ack", {"event_ids": [""]}, "event_ids.0"),
        ("/inbox/ack", {"lease_id": "abc", "all": True}, "all"),
        ("/inbox/release", {}, "lease_id"),
        ("/inbox/release", {"lease_id": None}, "lease_id"),
        ("/inbox/release", {"lease_id": "abc", "event_ids": []}, "event_ids"),
        ("/inbox/release", {"lease_id": "abc", "event_ids": [3]}, "event_ids.0"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": -1}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": 3601}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": "1"}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "extra": 1}, "extra"),
        ("/inbox/quarantine/requeue", {}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": []}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": ["x"] * 101}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": "x"}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": ["x"], "force": True}, "force"),
    ],
)
def test_validation_errors_name_the_field(
    api: ApiClient, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    result = api.post(path, key=keys.creator, json_body=body)
    assert (result.status, result.error_code) == (400, "validation_error"), result.text
    assert [d["field"] for d in result.json["error"]["details"]] == [field]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"cursor": ""}, {"event_type": "t"}]
)
def test_bad_quarantine_queries(api: ApiClient, keys: Keys, query: dict[str, str]) -> None:
    result = api.get("/inbox/quarantine", key=keys.viewer, query=query)
    assert (result.status, result.error_code) == (400, "validation_error")


def test_bad_json_and_media_type_on_lease_inbox(api: ApiClient, keys: Keys) -> None:
    result = api.post(
        "/inbox/lease", key=keys.creator, body="{", headers={"content-type": "application/json"}
    )
    assert (result.status, result.error_code) == (400, "invalid_json")
    result = api.post(
        "/inbox/lease", key=keys.creator, body="{}", headers={"content-type": "text/plain"}
    )
    assert result.status == 415


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
