"""Push delivery end to end, in process: POST /events → the events stream → dispatch →
SQS → deliver → a loopback receiver; every delivery verified with the Standard
Webhooks reference library. Filters, dedup, the retry schedule, disabling, rotation."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import counters
from common.triggers.delivery import attempts as recording
from common.triggers.delivery import messages
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import (  # noqa: F401 - fixtures
    Pipeline,
    Receiver,
    _status,
    attempts,
    pipeline_fixture,
    post_event,
    receiver_fixture,
    subscribe,
)


def test_a_new_event_is_delivered_signed_with_the_contract_body(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator, "order.created", order=42)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    (got,) = receiver.received
    payload = got.verify(sub["secret"])  # the reference library, unchanged
    event = api.get(f"/events/{event_id}", key=keys.viewer).json
    assert payload == {"type": "order.created", "timestamp": event["received_at"], "data": event}
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"].startswith("msg_")
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    pipeline.drain()
    (logged,) = attempts(api, keys.viewer, sub)
    assert logged["event_id"] == event_id
    assert (logged["attempt"], logged["status_code"], logged["error"]) == (1, 200, None)
    assert logged["next_attempt_at"] is None
    shown = api.get(f"/subscriptions/{sub['subscription_id']}", key=keys.viewer).json
    assert shown["last_success_at"] is not None
    assert shown["consecutive_failures"] == 0
    figures = counters.read_day("acme", clock.day_of(clock.now())) or {}
    assert figures.get("deliveries_succeeded") == 1


def test_post_events_stays_one_dynamodb_call_with_subscriptions(
    api: ApiClient, keys: Keys, receiver: Receiver, aws_calls: Counter[str]
) -> None:
    subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)  # warm: the key is cached after this one
    aws_calls.clear()
    post_event(api, keys.creator)
    data_calls = {k: v for k, v in aws_calls.items() if k != "dynamodb.UpdateItem"}
    # The rate limiter's window update (keys table) aside, one TransactWriteItems.
    assert data_calls == {"dynamodb.TransactWriteItems": 1}


def test_type_filters_exact_and_prefix(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    subscribe(api, keys.creator, receiver.url("/orders"), event_types=["order.*"])
    subscribe(api, keys.creator, receiver.url("/exact"), event_types=["build.done"])
    subscribe(api, keys.creator, receiver.url("/all"))
    for event_type in ("order.created", "order.paid.late", "orders.x", "build.done", "build"):
        post_event(api, keys.creator, event_type)
    pipeline.drain(until=lambda: len(receiver.on("/all")) == 5)
    pipeline.drain()
    assert sorted(r.json["type"] for r in receiver.on("/orders")) == [
        "order.created",
        "order.paid.late",
    ]
    assert [r.json["type"] for r in receiver.on("/exact")] == ["build.done"]


def test_duplicates_are_not_delivered_twice(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator, "order.created", same=1)
    post_event(api, keys.creator, "order.created", same=1)  # 200, duplicate: true
    pipeline.drain(until=lambda: len(receiver.received) >= 1)
    pipeline.drain()
    assert len(receiver.received) == 1


def test_events_older_than_the_subscription_are_not_delivered_and_tenants_are_apart(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    post_event(api, keys.creator, "before")
    subscribe(api, keys.creator, receiver.url("/acme"))
    subscribe(api, keys.other_creator, receiver.url("/globex"))
    post_event(api, keys.creator, "after")
    pipeline.drain(until=lambda: len(receiver.received) >= 1)
    pipeline.drain()
    assert [r.json["type"] for r in receiver.on("/acme")] == ["after"]
    assert receiver.on("/globex") == []


def test_5xx_then_2xx_is_retried_with_the_same_webhook_id(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (503 if n < 2 else 204, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 3)
    pipeline.drain()
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    for got in receiver.received:
        got.verify(sub["secret"])  # each attempt signed anew
    log = attempts(api, keys.viewer, sub)
    assert [(a["attempt"], a["status_code"]) for a in log] == [(3, 204), (2, 503), (1, 503)]
    assert log[1]["error"] == "http_status: 503"
    assert log[1]["next_attempt_at"] is not None
    figures = counters.read_day("acme", clock.day_of(clock.now())) or {}
    assert (figures.get("deliveries_failed"), figures.get("deliveries_succeeded")) == (2, 1)


def test_the_retry_schedule_is_the_contracts_and_scales_with_one_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "1")
    settings.cache_clear()
    delays = [messages.retry_delay(n) for n in range(1, messages.MAX_ATTEMPTS)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "3600")
    settings.cache_clear()
    assert [messages.retry_delay(n) for n in range(1, 8)] == [1, 1, 1, 2, 5, 10, 10]


def test_retries_follow_the_scaled_schedule_until_exhausted(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "36000")  # every retry after 1 s
    settings.cache_clear()
    receiver.answer = lambda path, n: (500, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == messages.MAX_ATTEMPTS, timeout=60)
    pipeline.drain()
    assert len(receiver.received) == 8  # the first attempt and 7 retries, then no more
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    expected = [max(1.0, s / 36000) for s in messages.RETRY_SCHEDULE_SECONDS]
    for gap, wanted in zip(gaps, expected, strict=True):
        assert gap >= wanted - 0.2, (gaps, expected)
    log = attempts(api, keys.viewer, sub)
    assert log[0]["attempt"] == 8
    assert log[0]["next_attempt_at"] is None
    shown = api.get(f"/subscriptions/{sub['subscription_id']}", key=keys.viewer).json
    assert shown["consecutive_failures"] == 1
    assert shown["status"] == "active"
    figures = counters.read_day("acme", clock.day_of(clock.now())) or {}
    assert figures.get("deliveries_exhausted") == 1
    assert figures.get("deliveries_failed") == 8


def test_timeouts_refusals_and_redirects_are_failed_attempts(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from common.triggers import outbound

    real = outbound.deliver
    monkeypatch.setattr(outbound, "deliver", lambda *a, **k: real(*a, **{**k, "timeout": 0.5}))
    receiver.answer = lambda path, n: {"/slow": (200, 1.5), "/moved": (302, 0.0)}.get(
        path, (200, 0)
    )
    slow = subscribe(api, keys.creator, receiver.url("/slow"))
    moved = subscribe(api, keys.creator, receiver.url("/moved"))
    refused = subscribe(api, keys.creator, "http://127.0.0.1:9/closed")
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: all(attempts(api, keys.viewer, s) for s in (slow, moved, refused)))
    assert attempts(api, keys.viewer, slow)[-1]["error"] == "timeout"
    assert attempts(api, keys.viewer, moved)[-1]["status_code"] == 302
    assert receiver.on("/elsewhere") == []  # the redirect was not followed
    assert attempts(api, keys.viewer, refused)[-1]["error"] == "connect_error"


def test_a_worker_dying_after_sending_delivers_again_and_records_once(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Crash injection: the deliver function dies after the POST, before the recording
    transaction; the message is not deleted, comes back after the visibility timeout,
    and is delivered again (never lost), then recorded exactly once."""
    sub = subscribe(api, keys.creator, receiver.url())
    real = recording.record_attempt
    crashes = [1]

    def dies_once(*args: Any, **kwargs: Any) -> bool:
        if crashes[0]:
            crashes[0] -= 1
            raise SystemExit("worker killed")  # not an Exception: nothing catches it
        return real(*args, **kwargs)

    monkeypatch.setattr(recording, "record_attempt", dies_once)
    pipeline.queue.visibility_seconds = 1
    post_event(api, keys.creator)
    with pytest.raises(SystemExit):
        pipeline.drain(until=lambda: False, timeout=5)
    assert len(receiver.received) == 1
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    pipeline.drain()
    assert len(receiver.received) == 2  # delivered again, same webhook-id
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    assert len(attempts(api, keys.viewer, sub)) == 1


def test_a_duplicate_message_after_recording_is_dropped_without_sending(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    duplicate = messages.Delivery("acme", sub["subscription_id"], event_id)
    messages.send([(duplicate.body(), 0)])
    pipeline.drain()
    assert len(receiver.received) == 1
    assert len(attempts(api, keys.viewer, sub)) == 1


def test_five_exhausted_events_disable_with_an_inbox_event_and_enable_restores(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(messages, "MAX_ATTEMPTS", 1)  # exhausted at the first failure
    receiver.answer = lambda path, n: (500, 0.0)
    sub = subscribe(api, keys.creator, receiver.url(), event_types=["order.*"])
    for n in range(5):
        post_event(api, keys.creator, "order.created", n=n)
    pipeline.drain(until=lambda: len(receiver.received) == 5)
    pipeline.drain()
    shown = api.get(f"/subscriptions/{sub['subscription_id']}", key=keys.viewer).json
    assert (shown["status"], shown["consecutive_failures"]) == ("disabled", 5)
    inbox = api.get("/inbox", key=keys.viewer, query={"event_type": "subscription.disabled"}).json
    (notice,) = inbox["items"]
    assert notice["payload"]["subscription_id"] == sub["subscription_id"]
    assert notice["payload"]["reason"] == "consecutive_exhausted_events"
    post_event(api, keys.creator, "order.created", n=99)  # not delivered while disabled
    pipeline.drain()
    assert len(receiver.received) == 5

    enabled = api.post(f"/subscriptions/{sub['subscription_id']}/enable", key=keys.creator)
    assert enabled.status == 200
    assert (enabled.json["status"], enabled.json["consecutive_failures"]) == ("active", 0)
    receiver.answer = lambda path, n: (200, 0.0)
    post_event(api, keys.creator, "order.created", n=100)
    pipeline.drain(until=lambda: len(receiver.received) == 6)


def test_failing_for_five_days_disables(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (500, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    started = clock.now()
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain(until=lambda: len(receiver.received) == 2)  # failing_since is set
    clock.set_clock(lambda: started + 5 * 86_400 + 60)
    try:
        pipeline.drain(until=lambda: _status(api, keys, sub) == "disabled")
    finally:
        clock.set_clock(None)


def test_rotation_sends_both_signatures_for_24_hours(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    rotated = api.post(f"/subscriptions/{sub['subscription_id']}/rotate-secret", key=keys.creator)
    assert rotated.status == 200
    new_secret = rotated.json["secret"]
    assert new_secret != sub["secret"]
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    got.verify(new_secret)
    got.verify(sub["secret"])
    later = clock.now() + 86_400 + 60
    clock.set_clock(lambda: later)
    try:
        from common.triggers import subscriptions as subs

        record = subs.get("acme", sub["subscription_id"])
        assert len(record.signing_keys(later)) == 1  # the old secret stops after 24 h
    finally:
        clock.set_clock(None)


def test_a_deleted_subscription_gets_nothing_more(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (500, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    assert api.delete(f"/subscriptions/{sub['subscription_id']}", key=keys.creator).status == 204
    pipeline.drain()
    assert len(receiver.received) == 1


def test_ssrf_refusal_at_send_time_is_a_recorded_failure(
    api: ApiClient, keys: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL passed at subscribe time; at send time its host resolves privately."""
    from common.triggers import ssrf

    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34"])
    sub = subscribe(api, keys.creator, "https://hooks.example.com/in")
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["169.254.169.254"])
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: bool(attempts(api, keys.viewer, sub)))
    (first,) = attempts(api, keys.viewer, sub)
    assert first["error"].startswith("ssrf_refused")
    assert first["status_code"] is None
