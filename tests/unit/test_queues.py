"""Named queues (#30): definitions, the stream's fan-out into them, and every inbox route
per queue — each queue consumed independently of the others and of the tenant inbox."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from common.runtime.config import settings
from common.store import dynamo
from common.triggers import fanout, queues
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import Pipeline, invoke, make_pipeline


@pytest.fixture
def pipeline(aws: None, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    from tools.local.emulator import make_dynamodb_safe

    # DynamoDB (and make run's emulator) never stream a cancelled transaction's writes;
    # plain moto does (it applies, then restores), which would fan out a duplicate.
    make_dynamodb_safe()
    return make_pipeline(monkeypatch)


def create_queue(api: ApiClient, key: str, name: str, **fields: Any) -> dict[str, Any]:
    result = api.post("/queues", key=key, json_body={"name": name, **fields})
    assert result.status == 201, result.text
    return dict(result.json)


def post_event(api: ApiClient, key: str, event_type: str = "order.created", n: int = 0) -> str:
    body = {"event_type": event_type, "payload": {"n": n, "t": time.time_ns()}}
    result = api.post("/events", key=key, json_body=body)
    assert result.status == 201, result.text
    return str(result.json["event_id"])


def listed(api: ApiClient, key: str, queue: str, **query: str) -> list[str]:
    result = api.get("/inbox", key=key, query={"queue": queue, **query})
    assert result.status == 200, result.text
    return [item["event_id"] for item in result.json["items"]]


def lease(api: ApiClient, key: str, queue: str, **body: Any) -> dict[str, Any]:
    result = api.post("/inbox/lease", key=key, json_body={"queue": queue, **body})
    assert result.status == 200, result.text
    return dict(result.json)


# ---------------------------------------------------------------- definitions


def test_create_list_show_delete(api: ApiClient, keys: Keys) -> None:
    created = create_queue(api, keys.creator, "billing", event_types=["order.*"], description="b")
    assert set(created) == {"name", "event_types", "description", "created_at"}
    assert created["name"] == "billing"
    assert created["event_types"] == ["order.*"]
    assert created["created_at"].endswith("Z")
    create_queue(api, keys.creator, "analytics")

    page = api.get("/queues", key=keys.viewer).json
    assert [q["name"] for q in page["items"]] == ["inbox", "analytics", "billing"]
    assert page["has_more"] is False

    shown = api.get("/queues/billing", key=keys.viewer)
    assert shown.status == 200
    assert shown.json["pending"] == 0
    assert shown.json["leased"] == 0
    assert shown.json["quarantined"] == 0
    assert shown.json["oldest_pending_age_seconds"] is None
    assert api.get("/queues/inbox", key=keys.viewer).json["name"] == "inbox"

    assert api.delete("/queues/billing", key=keys.creator).status == 204
    assert api.get("/queues/billing", key=keys.viewer).status == 404
    assert api.delete("/queues/billing", key=keys.creator).status == 404
    assert [q["name"] for q in api.get("/queues", key=keys.viewer).json["items"]] == [
        "inbox",
        "analytics",
    ]


def test_names_in_use_reserved_and_bad_input(api: ApiClient, keys: Keys) -> None:
    create_queue(api, keys.creator, "billing")
    assert api.post("/queues", key=keys.creator, json_body={"name": "billing"}).error_code == (
        "conflict"
    )
    assert api.post("/queues", key=keys.creator, json_body={"name": "inbox"}).status == 409
    assert api.delete("/queues/inbox", key=keys.creator).status == 409
    for body in (
        {"name": "Not A Slug"},
        {"name": ""},
        {},
        {"name": "x", "event_types": []},
        {"name": "x", "event_types": ["a*b"]},
        {"name": "x", "colour": "red"},
        {"name": "x", "description": "d" * 256},
    ):
        result = api.post("/queues", key=keys.creator, json_body=body)
        assert result.status == 400, body
        assert result.error_code == "validation_error"
    assert api.post("/queues", key=keys.viewer, json_body={"name": "y"}).status == 403


def test_at_most_twenty_named_queues_and_a_deleted_one_frees_its_place(
    api: ApiClient, keys: Keys
) -> None:
    for n in range(queues.MAX_QUEUES):
        create_queue(api, keys.creator, f"q{n}")
    assert api.post("/queues", key=keys.creator, json_body={"name": "more"}).status == 409
    assert api.delete("/queues/q0", key=keys.creator).status == 204
    create_queue(api, keys.creator, "more")
    # Another tenant's count is its own.
    create_queue(api, keys.other_creator, "q0")


def test_queues_list_paginates_with_the_inbox_first(api: ApiClient, keys: Keys) -> None:
    for name in ("c", "a", "b"):
        create_queue(api, keys.creator, name)
    first = api.get("/queues", key=keys.viewer, query={"limit": "2"}).json
    assert [q["name"] for q in first["items"]] == ["inbox", "a"]
    assert first["has_more"]
    second = api.get(
        "/queues", key=keys.viewer, query={"limit": "2", "cursor": first["next_cursor"]}
    ).json
    assert [q["name"] for q in second["items"]] == ["b", "c"]
    assert not second["has_more"]
    stolen = api.get("/queues", key=keys.other_viewer, query={"cursor": first["next_cursor"]})
    assert stolen.error_code == "invalid_cursor"


def test_an_unknown_queue_is_404_on_every_inbox_route(api: ApiClient, keys: Keys) -> None:
    create_queue(api, keys.other_creator, "theirs")  # another tenant's name is unknown here
    for queue in ("nope", "theirs"):
        assert api.get("/inbox", key=keys.viewer, query={"queue": queue}).status == 404
        assert api.get("/inbox/quarantine", key=keys.viewer, query={"queue": queue}).status == 404
        assert api.get(f"/queues/{queue}", key=keys.viewer).status == 404
        assert api.delete(f"/queues/{queue}", key=keys.creator).status == 404
        for path, body in (
            ("/inbox/lease", {}),
            ("/inbox/ack", {"event_ids": ["x"]}),
            ("/inbox/release", {"lease_id": "x"}),
            ("/inbox/extend", {"lease_id": "x", "lease_seconds": 30}),
            ("/inbox/quarantine/requeue", {"event_ids": ["x"]}),
        ):
            result = api.post(path, key=keys.creator, json_body={**body, "queue": queue})
            assert result.status == 404, (path, queue, result.text)
            assert result.error_code == "not_found"


# ---------------------------------------------------------------- fan-out


def test_every_matching_new_event_is_in_the_queue_once(
    api: ApiClient, keys: Keys, pipeline: Pipeline
) -> None:
    early = post_event(api, keys.creator, n=-1)  # before the queue: not in it
    create_queue(api, keys.creator, "orders", event_types=["order.*"])
    create_queue(api, keys.creator, "all")
    wanted = [post_event(api, keys.creator, n=n) for n in range(3)]
    other = post_event(api, keys.creator, "user.signed_up")
    dup = api.post(
        "/events", key=keys.creator, json_body={"event_type": "order.created", "payload": {"n": 0}}
    )
    assert dup.status in (200, 201)
    pipeline.drain()
    assert listed(api, keys.viewer, "orders") == wanted + (
        [dup.json["event_id"]] * (dup.status == 201)
    )
    assert other in listed(api, keys.viewer, "all")
    assert early not in listed(api, keys.viewer, "all")
    assert api.get("/queues/orders", key=keys.viewer).json["pending"] == len(
        listed(api, keys.viewer, "orders")
    )
    # Another tenant's events never reach acme's queues.
    post_event(api, keys.other_creator)
    pipeline.drain()
    assert len(listed(api, keys.viewer, "all")) == 5


def test_a_duplicate_is_not_fanned_out(api: ApiClient, keys: Keys, pipeline: Pipeline) -> None:
    create_queue(api, keys.creator, "q")
    body = {"event_type": "order.created", "payload": {"same": True}}
    first = api.post("/events", key=keys.creator, json_body=body)
    again = api.post("/events", key=keys.creator, json_body=body)
    assert (first.status, again.status) == (201, 200)
    pipeline.drain()
    assert listed(api, keys.viewer, "q") == [first.json["event_id"]]


def test_post_events_stays_one_round_trip_with_queues(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    for n in range(3):
        create_queue(api, keys.creator, f"q{n}")
    api.get("/inbox", key=keys.viewer)  # warm the key cache
    aws_calls.clear()
    post_event(api, keys.creator)
    # The rate limiter's window update (keys table) aside, one TransactWriteItems.
    data_calls = {k: v for k, v in aws_calls.items() if k != "dynamodb.UpdateItem"}
    assert data_calls == {"dynamodb.TransactWriteItems": 1}


def _records(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every stream record so far, handed to the test instead of to dispatch."""
    got: list[dict[str, Any]] = []

    def keep(function: str, event: dict[str, Any]) -> dict[str, Any]:
        got.extend(event["Records"])
        return {"batchItemFailures": []}

    pipeline.stream.invoke = keep
    while pipeline.stream.poll_once():
        pass
    return got


def test_redelivered_stream_records_add_nothing(
    api: ApiClient, keys: Keys, pipeline: Pipeline
) -> None:
    create_queue(api, keys.creator, "q")
    ids = [post_event(api, keys.creator, n=n) for n in range(3)]
    records = _records(pipeline)
    for _ in range(3):  # the same batch, three times (Lambda's at-least-once stream)
        assert invoke("dispatch", {"Records": records}) == {"batchItemFailures": []}
    assert listed(api, keys.viewer, "q") == ids
    assert api.get("/queues/q", key=keys.viewer).json["pending"] == 3


def test_a_dispatcher_crash_mid_batch_loses_nothing(
    api: ApiClient, keys: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_queue(api, keys.creator, "q")
    ids = [post_event(api, keys.creator, n=n) for n in range(5)]
    real = fanout._add_entry
    calls = [0]

    def crashes_on_the_third(*args: Any) -> int:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("the dispatcher died here")
        return real(*args)

    monkeypatch.setattr(fanout, "_add_entry", crashes_on_the_third)
    records = _records(pipeline)
    answer = invoke("dispatch", {"Records": records})
    failed = answer["batchItemFailures"]
    assert failed  # the batch is retried from the record that failed...
    sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
    retried = records[sequence.index(failed[0]["itemIdentifier"]) :]
    assert invoke("dispatch", {"Records": retried}) == {"batchItemFailures": []}
    # ...and a whole-batch retry (a timeout after the writes) changes nothing.
    assert invoke("dispatch", {"Records": records}) == {"batchItemFailures": []}
    assert listed(api, keys.viewer, "q") == ids
    assert api.get("/queues/q", key=keys.viewer).json["pending"] == 5


def test_a_deleted_queue_gets_nothing_more_and_its_entries_are_removed(
    api: ApiClient, keys: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "CLEAN_UP_PAGE", 2)  # several bounded steps
    create_queue(api, keys.creator, "q")
    for n in range(5):
        post_event(api, keys.creator, n=n)
    pipeline.drain()
    lease(api, keys.creator, "q", limit=1)
    old = queues.find("acme", "q")
    assert len(_entries(old.queue_id)) == 5
    assert api.delete("/queues/q", key=keys.creator).status == 204
    post_event(api, keys.creator, n=9)
    pipeline.drain()  # the clean-up runs through the stream, a bounded step per record
    assert _entries(old.queue_id) == []
    cleanup = {"pk": f"T#acme#QDEL#{old.queue_id}", "sk": "QDEL"}
    assert dynamo.get(settings().events_table, cleanup) is None
    assert old.place.pending() == 0  # its gauge went with it
    create_queue(api, keys.creator, "q")  # the same name again starts empty
    assert listed(api, keys.viewer, "q") == []
    assert api.get("/queues/q", key=keys.viewer).json["pending"] == 0


def _entries(queue_id: str) -> list[dict[str, Any]]:
    """Every stored entry of a queue id (a test-only scan)."""
    from common.store import aws as clients

    found = clients.dynamodb().scan(TableName=settings().events_table)["Items"]
    prefix = f"T#acme#QE#{queue_id}#"
    return [item for item in found if item["pk"]["S"].startswith(prefix)]


# ---------------------------------------------------------------- consuming


def test_two_queues_consume_the_same_events_independently(
    api: ApiClient, keys: Keys, pipeline: Pipeline
) -> None:
    create_queue(api, keys.creator, "billing")
    create_queue(api, keys.creator, "analytics")
    ids = [post_event(api, keys.creator, n=n) for n in range(4)]
    pipeline.drain()

    billing = lease(api, keys.creator, "billing", limit=4)
    assert [i["event_id"] for i in billing["items"]] == ids
    assert all(i["attempts"] == 1 for i in billing["items"])
    # The same events are all available in the other queue and in the inbox.
    analytics = lease(api, keys.creator, "analytics", limit=2)
    assert [i["event_id"] for i in analytics["items"]] == ids[:2]
    assert [i["event_id"] for i in lease(api, keys.creator, "inbox", limit=4)["items"]] == ids

    ack = api.post(
        "/inbox/ack",
        key=keys.creator,
        json_body={"lease_id": billing["lease_id"], "queue": "billing"},
    ).json
    assert ack == {"acknowledged": ids, "lease_lost": [], "not_found": []}
    assert listed(api, keys.viewer, "billing") == []
    assert listed(api, keys.viewer, "analytics") == ids
    # GET /events/{id} shows the tenant inbox's state, not a queue's.
    for event_id in ids:
        assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "pending"
    # A lease id answers for its own queue only.
    elsewhere = api.post(
        "/inbox/ack",
        key=keys.creator,
        json_body={"lease_id": analytics["lease_id"], "queue": "billing"},
    )
    assert elsewhere.status == 404
    inbox_ack = api.post(
        "/inbox/ack", key=keys.creator, json_body={"lease_id": analytics["lease_id"]}
    )
    assert inbox_ack.status == 404
    # Acknowledging in the tenant inbox (DELETE /events/{id}) leaves the queues alone.
    assert api.delete(f"/events/{ids[3]}", key=keys.creator).status == 204
    assert api.get(f"/events/{ids[3]}", key=keys.viewer).json["status"] == "delivered"
    assert ids[3] in listed(api, keys.viewer, "analytics")
    shown = api.get("/queues/analytics", key=keys.viewer).json
    assert (shown["pending"], shown["leased"]) == (4, 2)
    assert shown["oldest_pending_age_seconds"] is not None


def test_release_requeue_and_quarantine_stay_in_their_queue(
    api: ApiClient, keys: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_MAX_ATTEMPTS", "1")
    settings.cache_clear()
    create_queue(api, keys.creator, "q")
    event_id = post_event(api, keys.creator)
    pipeline.drain()
    held = lease(api, keys.creator, "q")
    released = api.post(
        "/inbox/release", key=keys.creator, json_body={"lease_id": held["lease_id"], "queue": "q"}
    ).json
    assert released == {"released": [event_id], "not_found": []}
    page = api.get("/inbox/quarantine", key=keys.viewer, query={"queue": "q"}).json
    assert [i["event_id"] for i in page["items"]] == [event_id]
    assert api.get("/inbox/quarantine", key=keys.viewer).json["items"] == []
    assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "pending"
    assert api.get("/queues/q", key=keys.viewer).json["quarantined"] == 1
    requeued = api.post(
        "/inbox/quarantine/requeue",
        key=keys.creator,
        json_body={"event_ids": [event_id], "queue": "q"},
    ).json
    assert requeued == {"requeued": [event_id], "not_found": []}
    assert listed(api, keys.viewer, "q") == [event_id]
    # Acknowledged by id in the queue: gone from it, still pending in the tenant inbox.
    acked = api.post(
        "/inbox/ack", key=keys.creator, json_body={"event_ids": [event_id, "nope"], "queue": "q"}
    ).json
    assert acked == {"acknowledged": [event_id], "lease_lost": [], "not_found": ["nope"]}
    assert listed(api, keys.viewer, "q") == []
    assert listed(api, keys.viewer, "inbox") == [event_id]
    assert api.get("/queues/q", key=keys.viewer).json["pending"] == 0


def test_concurrent_leasers_on_a_queue_never_share_an_event(
    api: ApiClient, keys: Keys, pipeline: Pipeline
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    create_queue(api, keys.creator, "q")
    ids = [post_event(api, keys.creator, n=n) for n in range(12)]
    pipeline.drain()
    with ThreadPoolExecutor(4) as pool:
        leases = list(pool.map(lambda _: lease(api, keys.creator, "q", limit=5), range(4)))
    taken = [i["event_id"] for held in leases for i in held["items"]]
    assert sorted(taken) == sorted(ids)
    assert len(taken) == len(set(taken))


def test_another_tenant_cannot_use_or_see_a_queue(
    api: ApiClient, keys: Keys, pipeline: Pipeline
) -> None:
    create_queue(api, keys.creator, "q")
    post_event(api, keys.creator)
    pipeline.drain()
    held = lease(api, keys.creator, "q")
    create_queue(api, keys.other_creator, "q")
    theirs = api.post(
        "/inbox/ack", key=keys.other_creator, json_body={"lease_id": held["lease_id"], "queue": "q"}
    )
    assert theirs.status == 404
    assert listed(api, keys.other_viewer, "q") == []
    assert [q["name"] for q in api.get("/queues", key=keys.other_viewer).json["items"]] == [
        "inbox",
        "q",
    ]


def test_a_named_queue_lease_costs_its_definition_one_query_and_one_transaction(
    api: ApiClient, keys: Keys, pipeline: Pipeline, aws_calls: Counter[str]
) -> None:
    create_queue(api, keys.creator, "q")
    for n in range(30):
        post_event(api, keys.creator, n=n)
    pipeline.drain()
    lease(api, keys.creator, "q", limit=10)  # the older ones leased: behind the next lease
    aws_calls.clear()
    held = lease(api, keys.creator, "q", limit=10)
    assert len(held["items"]) == 10
    data_calls = {k: v for k, v in aws_calls.items() if k != "dynamodb.UpdateItem"}
    # The queue's definition (GetItem), one Query per shard, one transaction.
    assert data_calls == {
        "dynamodb.GetItem": 1,
        "dynamodb.Query": settings().inbox_shards,
        "dynamodb.TransactWriteItems": 1,
    }


def test_a_cursor_is_bound_to_its_queue(api: ApiClient, keys: Keys, pipeline: Pipeline) -> None:
    create_queue(api, keys.creator, "a")
    create_queue(api, keys.creator, "b")
    for n in range(3):
        post_event(api, keys.creator, n=n)
    pipeline.drain()
    pages = {}
    for queue in ("inbox", "a", "b"):
        first = api.get("/inbox", key=keys.viewer, query={"queue": queue, "limit": "1"}).json
        pages[queue] = first["next_cursor"]
        after = {"queue": queue, "limit": "1", "cursor": first["next_cursor"]}
        assert api.get("/inbox", key=keys.viewer, query=after).status == 200
    for used, on in (("a", "b"), ("inbox", "a"), ("b", "inbox")):
        wrong = {"queue": on, "limit": "1", "cursor": pages[used]}
        assert api.get("/inbox", key=keys.viewer, query=wrong).error_code == "invalid_cursor"
