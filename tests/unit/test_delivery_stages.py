"""Push delivery past the fast path: replay of a window, long retries waiting in the due
index for the retry function, and what dispatch and deliver report when a record or
message fails (the same in-process pipeline as tests/unit/test_delivery.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from common.triggers.delivery import attempts as recording
from common.triggers.delivery import dispatch, messages, replay
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import (  # noqa: F401 - fixtures
    Pipeline,
    Receiver,
    attempts,
    pipeline_fixture,
    post_event,
    receiver_fixture,
    subscribe,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"


def test_replay_of_a_window_spanning_several_pages(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay, "REPLAY_PAGE", 3)
    before = [
        post_event(api, keys.creator, "order.created" if n % 4 else "other", n=n) for n in range(10)
    ]
    received = [api.get(f"/events/{e}", key=keys.viewer).json["received_at"] for e in before]
    sub = subscribe(api, keys.creator, receiver.url(), event_types=["order.*"])
    pipeline.drain()
    assert receiver.received == []  # older than the subscription: only through replay
    body = {"since": received[1], "until": received[9]}  # events 1..8: 6 orders
    started = time.monotonic()
    result = api.post(
        f"/subscriptions/{sub['subscription_id']}/replay", key=keys.creator, json_body=body
    )
    assert time.monotonic() - started < 1.0  # accepted, not sent inline
    assert result.status == 202, result.text
    assert result.json["events"] == 6
    assert receiver.received == []
    pipeline.drain(until=lambda: len(receiver.received) == 6)
    pipeline.drain()
    got_ids = [r.json["data"]["event_id"] for r in receiver.received]
    wanted = [e for n, e in enumerate(before) if 1 <= n < 9 and n % 4]
    assert got_ids == wanted  # oldest first, the window half-open, the filter applied
    for got in receiver.received:
        got.verify(sub["secret"])


def test_replay_keeps_the_original_webhook_id(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    received_at = api.get(f"/events/{event_id}", key=keys.viewer).json["received_at"]
    result = api.post(
        f"/subscriptions/{sub['subscription_id']}/replay",
        key=keys.creator,
        json_body={"since": received_at},
    )
    assert result.json["events"] == 1
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


def test_long_retries_wait_in_the_due_index_and_the_retry_function_sends_them(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 2 h retry (unscaled) is beyond SQS's 15 min: it lives in the due-time index
    until the scheduled `retry` function finds it due."""
    from handlers import retry

    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "1")
    settings.cache_clear()
    receiver.answer = lambda path, n: (500 if n == 0 else 200, 0.0)
    monkeypatch.setattr(messages, "RETRY_SCHEDULE_SECONDS", (7200,) * 7)
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain()
    assert retry.handler({}, None) == {"sent": 0}  # not due yet
    later = clock.now() + 7200 * 1.1 + 1  # the schedule carries up to +10 % jitter
    clock.set_clock(lambda: later)
    try:
        assert retry.handler({}, None) == {"sent": 1}
        assert retry.handler({}, None) == {"sent": 0}  # claimed: an overlapping run skips it
        pipeline.drain(until=lambda: len(receiver.received) == 2)
    finally:
        clock.set_clock(None)
    log = attempts(api, keys.viewer, sub)
    assert [a["attempt"] for a in log] == [2, 1]


def test_a_lost_fast_path_retry_is_sent_by_the_retry_function(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retry message is lost (SQS send fails after the attempt was recorded): the
    due-time index still holds it, and the retry function sends it after the backstop."""
    from handlers import retry

    receiver.answer = lambda path, n: (500 if n == 0 else 200, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    real_send = messages.send
    calls = [0]

    def first_retry_lost(bodies: Any) -> None:
        if any('"attempt":2' in body for body, _ in bodies) and calls[0] == 0:
            calls[0] += 1
            raise RuntimeError("SQS unavailable")
        real_send(bodies)

    monkeypatch.setattr(messages, "send", first_retry_lost)
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain()
    assert len(receiver.received) == 1
    later = clock.now() + messages.BACKSTOP_SECONDS + 10
    clock.set_clock(lambda: later)
    try:
        assert retry.handler({}, None) == {"sent": 1}
    finally:
        clock.set_clock(None)
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    assert [a["attempt"] for a in attempts(api, keys.viewer, sub)] == [2, 1]


def test_dispatch_skips_records_that_are_not_new_events() -> None:
    sample = json.loads((EVENTS / "dispatch_stream.json").read_text())
    insert, dedup = sample["Records"]
    assert dispatch.event_of_record(insert) is not None
    assert dispatch.event_of_record(dedup) is None
    assert dispatch.event_of_record({**insert, "eventName": "MODIFY"}) is None
    assert dispatch.event_of_record({**insert, "eventName": "REMOVE"}) is None


def test_dispatch_reports_the_first_record_it_could_not_queue(
    api: ApiClient, keys: Keys, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import dispatch

    subscribe(api, keys.creator, receiver.url())
    sample = json.loads((EVENTS / "dispatch_stream.json").read_text())
    record = sample["Records"][0]
    image = record["dynamodb"]["NewImage"]
    image["tenant"] = {"S": "acme"}
    image["received_at"] = {"S": clock.iso(clock.now() + 5)}

    def broken(bodies: Any) -> None:
        raise RuntimeError("SQS down")

    monkeypatch.setattr(messages, "send", broken)
    result = dispatch.handler({"Records": [sample["Records"][1], record]}, None)
    assert result == {
        "batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
    }


def test_deliver_reports_a_message_it_could_not_handle(
    api: ApiClient, keys: Keys, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import deliver

    sample = json.loads((EVENTS / "deliver_sqs.json").read_text())
    good, bad = dict(sample["Records"][0]), dict(sample["Records"][0], messageId="m-bad")

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(recording, "deliver_message", unavailable)
    result = deliver.handler({"Records": [bad]}, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    monkeypatch.undo()
    garbage = dict(good, body="not json")
    assert deliver.handler({"Records": [garbage]}, None) == {"batchItemFailures": []}
    assert clients.client("sqs") is not None


def test_retries_of_a_disabled_subscription_leave_the_due_index(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    """A retry that arrives for a disabled subscription is dropped, and its due-time
    entry goes too: the retry function does not send it again and again."""
    from common.store import dynamo
    from common.store.tables import GSI1
    from common.triggers import subscriptions as subs

    receiver.answer = lambda path, n: (500, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    dynamo.update(
        settings().hooks_table,
        subs.subscription_key("acme", sub["subscription_id"]),
        "SET #s = :d",
        names={"#s": "status"},
        values={":d": "disabled"},
    )
    pipeline.drain()
    assert len(receiver.received) == 1
    due = [
        dynamo.query_partition(
            settings().hooks_table, dynamo.CROSS_TENANT, f"DUE#{shard}", index=GSI1
        ).items
        for shard in range(settings().due_shards)
    ]
    assert [item for items in due for item in items] == []
