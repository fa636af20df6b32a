"""Injected AWS faults on the push delivery write paths (the tests/unit/test_faults.py
sweep, for the subscriptions API, the deliver function and the retry function)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from common.triggers import ssrf
from common.triggers.delivery import fairness, messages
from tests.conftest import ApiClient, Keys, Result
from tests.unit.delivery_support import (
    Pipeline,
    Receiver,
    make_pipeline,
    receiver_fixture,  # noqa: F401 - fixtures
)
from tests.unit.test_faults import DDB_FAULTS, Fault, _client_error, inject  # noqa: F401

SQS_FAULTS = (
    Fault(
        "SQS throttled",
        "sqs",
        ("SendMessageBatch",),
        _client_error("ThrottlingException", 400),
    ),
)


@pytest.fixture
def pipeline(aws: None, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    return make_pipeline(monkeypatch)


def stored() -> dict[str, Any]:
    ddb, cfg = clients.dynamodb(), settings()
    state: dict[str, Any] = {}
    for table in (cfg.hooks_table, cfg.events_table, cfg.stats_table):
        items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        state[table] = sorted(json.dumps(item, sort_keys=True) for item in items)
    return state


def _sub(api: ApiClient, key: str, url: str) -> str:
    result = api.post("/subscriptions", key=key, json_body={"url": url})
    assert result.status == 201, result.text
    return str(result.json["subscription_id"])


Send = Callable[[ApiClient, str, str], Result]
API_WRITES: tuple[tuple[str, Send, int], ...] = (
    (
        "POST /subscriptions",
        lambda api, k, sid: api.post(
            "/subscriptions", key=k, json_body={"url": "https://hooks.example.com/"}
        ),
        201,
    ),
    (
        "DELETE /subscriptions/{id}",
        lambda api, k, sid: api.delete(f"/subscriptions/{sid}", key=k),
        204,
    ),
    ("POST …/enable", lambda api, k, sid: api.post(f"/subscriptions/{sid}/enable", key=k), 200),
    (
        "POST …/rotate-secret",
        lambda api, k, sid: api.post(f"/subscriptions/{sid}/rotate-secret", key=k),
        200,
    ),
)


@pytest.mark.parametrize(("name", "send", "ok"), API_WRITES, ids=[w[0] for w in API_WRITES])
@pytest.mark.parametrize("fault", DDB_FAULTS[:2], ids=lambda f: f.name)
def test_api_write_under_fault_changes_nothing_and_succeeds_after(
    *,
    api: ApiClient,
    keys: Keys,
    pipeline: Pipeline,
    inject: Callable[[Fault], Callable[[], int]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    send: Send,
    ok: int,
    fault: Fault,
) -> None:
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34"])
    sid = _sub(api, keys.creator, "https://hooks.example.com/a")
    before = stored()
    remove = inject(fault)
    result = send(api, keys.creator, sid)
    assert remove() >= 1, "the fault never fired"
    assert (result.status, result.error_code) == (503, "service_unavailable"), result.text
    assert int(result.headers["Retry-After"]) >= 1
    assert "injected" not in result.text
    assert stored() == before
    assert send(api, keys.creator, sid).status == ok


def test_replay_when_the_queue_refuses_is_503(
    api: ApiClient,
    keys: Keys,
    pipeline: Pipeline,
    inject: Callable[[Fault], Callable[[], int]],  # noqa: F811
    receiver: Receiver,
) -> None:
    sid = _sub(api, keys.creator, receiver.url())
    remove = inject(SQS_FAULTS[0])
    body = {"since": "2026-01-01T00:00:00Z"}
    result = api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body)
    assert remove() >= 1
    assert (result.status, result.error_code) == (503, "service_unavailable"), result.text
    assert api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body).status == 202


@pytest.mark.parametrize("fault", DDB_FAULTS, ids=lambda f: f.name)
def test_recording_under_fault_fails_the_message_and_it_is_delivered_again(
    *,
    api: ApiClient,
    keys: Keys,
    pipeline: Pipeline,
    receiver: Receiver,
    inject: Callable[[Fault], Callable[[], int]],  # noqa: F811
    fault: Fault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The POST happened, the recording transaction failed: the message is reported
    as failed (SQS hands it out again), nothing was recorded, and the next try
    delivers again and records once."""
    from handlers import deliver

    sid = _sub(api, keys.creator, receiver.url())
    # The fault is for the recording: the fairness slots (writes too) are not under test.
    monkeypatch.setattr(fairness, "acquire", lambda t, s, now: fairness.Lease(t, s, "x@0"))
    monkeypatch.setattr(fairness, "release", lambda lease: None)
    event = api.post("/events", key=keys.creator, json_body={"event_type": "t", "payload": {}})
    message = messages.Delivery("acme", sid, event.json["event_id"])
    record = {"messageId": "m1", "body": message.body(), "attributes": {}}
    before = stored()
    remove = inject(fault)
    result = deliver.handler({"Records": [record]}, None)
    assert remove() >= 1
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert stored() == before
    assert len(receiver.received) == 1
    assert deliver.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert len(receiver.received) == 2
    log = api.get(f"/subscriptions/{sid}/deliveries", key=keys.viewer).json["items"]
    assert len(log) == 1


def test_dispatch_under_a_queue_fault_reports_the_record_for_a_retry(
    api: ApiClient,
    keys: Keys,
    pipeline: Pipeline,
    receiver: Receiver,
    inject: Callable[[Fault], Callable[[], int]],  # noqa: F811
) -> None:
    _sub(api, keys.creator, receiver.url())
    api.post("/events", key=keys.creator, json_body={"event_type": "t", "payload": {}})
    remove = inject(SQS_FAULTS[0])
    pipeline.stream.poll_once()  # dispatch fails: the pump reads the record again
    assert remove() >= 1
    assert receiver.received == []
    pipeline.drain(until=lambda: len(receiver.received) == 1)


@pytest.mark.parametrize("fault", DDB_FAULTS[:2], ids=lambda f: f.name)
def test_retry_function_under_fault_raises_and_sends_nothing(
    *,
    api: ApiClient,
    keys: Keys,
    pipeline: Pipeline,
    receiver: Receiver,
    inject: Callable[[Fault], Callable[[], int]],  # noqa: F811
    fault: Fault,
) -> None:
    from handlers import retry

    receiver.answer = lambda path, n: (500 if n == 0 else 200, 0.0)
    _sub(api, keys.creator, receiver.url())
    api.post("/events", key=keys.creator, json_body={"event_type": "t", "payload": {}})
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    # Drop the fast-path message: only the due-time index knows the retry now.
    sqs = clients.client("sqs")
    sqs.purge_queue(QueueUrl=settings().delivery_queue_url)
    later = clock.now() + 600
    clock.set_clock(lambda: later)
    try:
        remove = inject(fault)
        with pytest.raises(Exception):  # noqa: B017, PT011 - any failure must reach EventBridge
            retry.handler({}, None)
        assert remove() >= 1
        assert retry.handler({}, None) == {"sent": 1}  # the EventBridge retry
    finally:
        clock.set_clock(None)
    pipeline.drain(until=lambda: len(receiver.received) == 2)
