"""Delivery behaviour of CONTRACT Part 3, "Subscriptions, complete": receivers'
answers (410, Retry-After on 429/503), jitter, custom headers, paused
subscriptions, `failing_since`, the deliveries log's `trigger`, and replays paced
and one at a time."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import dynamo
from common.triggers import outbound, webhooks
from common.triggers import subscriptions as subs
from common.triggers.delivery import attempts as recording
from common.triggers.delivery import messages, replay
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import (  # noqa: F401 - fixtures
    Pipeline,
    Receiver,
    make_pipeline,
    pipeline_fixture,
    post_event,
    receiver_fixture,
    running_receiver,
    subscribe_id,
)


def item(sid: str, tenant: str = "acme") -> dict[str, Any]:
    found = dynamo.get(settings().hooks_table, subs.subscription_key(tenant, sid))
    assert found is not None
    return found


def set_attributes(sid: str, **values: Any) -> None:
    names = {f"#a{n}": name for n, name in enumerate(values)}
    dynamo.update(
        settings().hooks_table,
        subs.subscription_key("acme", sid),
        "SET " + ", ".join(f"#a{n} = :v{n}" for n in range(len(values))),
        names=names,
        values={f":v{n}": value for n, value in enumerate(values.values())},
    )


def log_items(sid: str) -> list[dict[str, Any]]:
    """The raw deliveries log, oldest first (with the fields the API may not show yet)."""
    return dynamo.query_partition(settings().hooks_table, "acme", subs.log_pk("acme", sid)).items


def test_410_gone_disables_at_once_with_the_event_and_no_retry(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (410, 0.0)
    sid = subscribe_id(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain()
    assert len(receiver.received) == 1  # not retried
    assert item(sid)["status"] == "disabled"
    inbox = api.get("/inbox", key=keys.viewer, query={"event_type": "subscription.disabled"}).json
    (notice,) = inbox["items"]
    assert notice["payload"]["reason"] == "gone"
    assert notice["source"] == "dockhand.delivery"
    (logged,) = log_items(sid)
    assert (logged["status_code"], logged.get("next_attempt_at")) == (410, None)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_delays_the_next_attempt(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline, status: int
) -> None:
    receiver.answer = lambda path, n: (status if n == 0 else 200, 0.0)
    receiver.answer_headers = lambda path, n: {"Retry-After": "3"} if n == 0 else {}
    subscribe_id(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 2, timeout=30)
    first, second = receiver.received
    assert second.at - first.at >= 2.9  # the schedule alone says 1 s here


def test_retry_after_as_an_http_date_and_its_cap() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert 115 <= (recording.retry_after_seconds(date, now) or 0) <= 121
    assert recording.retry_after_seconds("86400", now) == 3600  # capped at 1 h
    assert recording.retry_after_seconds("soon", now) is None
    assert recording.retry_after_seconds(email.utils.formatdate(now - 60), now) == 0
    failed = outbound.Result("http_status", 500, 5, "http_status: 500", "600")
    assert recording.next_retry_delay(1, failed, now) < 600  # only 429 and 503 ask for it


def test_retry_times_carry_up_to_ten_percent_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "1")
    settings.cache_clear()
    failed = outbound.Result("http_status", 500, 5, "http_status: 500")
    delays = [recording.next_retry_delay(2, failed, time.time()) for _ in range(200)]
    assert all(270 <= d <= 330 for d in delays)  # 300 s ± 10 %
    assert max(delays) - min(delays) > 20  # spread, not one value


def test_custom_headers_are_sent_and_cannot_replace_dockhands(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sid = subscribe_id(api, keys.creator, receiver.url())
    set_attributes(sid, headers={"X-Receiver-Token": "abc123", "webhook-id": "forged"})
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    (got,) = receiver.received
    assert got.headers["x-receiver-token"] == "abc123"
    assert got.headers["webhook-id"].startswith("msg_")


def test_a_paused_subscription_is_sent_nothing_and_its_retries_stop(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (500, 0.0)
    sid = subscribe_id(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    set_attributes(sid, status="paused", paused_at=clock.iso(clock.now()))
    post_event(api, keys.creator)
    outcome = recording.deliver_message(messages.Delivery("acme", sid, event_id, attempt=2))
    assert outcome.action == "paused"
    pipeline.drain()
    assert len(receiver.received) == 1
    state = dynamo.get(
        settings().hooks_table, {"pk": subs.state_pk("acme", sid), "sk": f"{event_id}#live"}
    )
    assert state is not None
    assert state["status"] == "abandoned"


def test_failing_since_is_the_first_failure_of_the_streak_and_a_success_clears_it(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (500 if n < 2 else 200, 0.0)
    sid = subscribe_id(api, keys.creator, receiver.url())
    before = clock.iso(clock.now())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)  # recorded in the same step
    first = item(sid)["failing_since"]
    assert isinstance(first, str)
    assert first >= before[:19]
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    assert item(sid)["failing_since"] == first  # the streak's first failure stays
    assert item(sid)["consecutive_failures"] == 0  # no event exhausted
    pipeline.drain(until=lambda: len(receiver.received) == 3)
    assert "failing_since" not in item(sid)


def test_the_log_says_why_each_attempt_was_sent(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    receiver.answer = lambda path, n: (500 if n == 0 else 200, 0.0)
    sid = subscribe_id(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    received_at = api.get(f"/events/{event_id}", key=keys.viewer).json["received_at"]
    request = subs.ReplayRequest(since=received_at)
    replay.start_replay("acme", sid, request)
    pipeline.drain(until=lambda: len(receiver.received) == 3)
    # A recovery sends what the subscription missed, never what it delivered live: its
    # window opens before the pause, so the first event is in it and is skipped.
    assert api.post(f"/subscriptions/{sid}/pause", key=keys.creator).status == 200
    missed = post_event(api, keys.creator)
    pipeline.drain()
    assert len(receiver.received) == 3  # nothing is sent while paused
    assert api.post(f"/subscriptions/{sid}/enable", key=keys.creator).status == 200
    pipeline.drain(until=lambda: len(receiver.received) == 4)
    pipeline.drain()
    assert len(receiver.received) == 4
    assert [i["trigger"] for i in log_items(sid)] == ["live", "retry", "replay", "recovery"]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    # replays and recoveries keep the event's own webhook-id
    assert ids[:3] == [webhooks.message_id(sid, event_id)] * 3
    assert ids[3] == webhooks.message_id(sid, missed)


def test_one_replay_per_subscription_at_a_time(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sid = subscribe_id(api, keys.creator, receiver.url())
    other = subscribe_id(api, keys.creator, receiver.url("/other"))
    for _ in range(3):
        post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 6)
    body = {"since": "2020-01-01T00:00:00Z"}
    assert api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body).status == 202
    second = api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body)
    assert (second.status, second.error_code) == (409, "conflict"), second.text
    assert (
        api.post(f"/subscriptions/{other}/replay", key=keys.creator, json_body=body).status == 202
    )
    pipeline.drain(until=lambda: len(receiver.received) == 12)
    again = api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body)
    assert again.status == 202  # the first one is done


def test_a_replay_runs_at_the_subscriptions_pace(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay, "REPLAY_PAGE", 4)
    sid = subscribe_id(api, keys.creator, receiver.url())
    for _ in range(8):
        post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 8)
    set_attributes(sid, rate_limit_per_second=4)
    started = time.time()
    body = {"since": "2020-01-01T00:00:00Z"}
    assert api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body).status == 202
    pipeline.drain(until=lambda: len(receiver.received) == 16, timeout=30)
    replayed = sorted(r.at for r in receiver.received[8:])
    assert replayed[-1] - started >= 1.0  # 8 at 4 a second: not all at once
    for first in replayed:
        assert len([t for t in replayed if first <= t < first + 1.0]) <= 5


def test_an_event_in_flight_when_the_subscription_pauses_is_recovered(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sid = subscribe_id(api, keys.creator, receiver.url())
    # Received before the pause, but the stream and the queue reach the worker after it:
    # the worker drops it (paused), and the recovery's window, which opens before the
    # pause, sends it on enable.
    in_flight = post_event(api, keys.creator)
    assert api.post(f"/subscriptions/{sid}/pause", key=keys.creator).status == 200
    pipeline.drain()
    assert receiver.received == []
    assert api.post(f"/subscriptions/{sid}/enable", key=keys.creator).status == 200
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain()
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        webhooks.message_id(sid, in_flight)
    ]


def test_paced_sends_leave_at_their_own_moments_not_in_whole_second_bunches(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    # 4 a second reserves moments 0.25 s apart; SQS delays count whole seconds, so
    # rounding them up would send the moments of 0.25, 0.5, 0.75 and 1.0 together.
    subscribe_id(api, keys.creator, receiver.url(), rate_limit_per_second=4)
    for _ in range(8):
        post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 8, timeout=30)
    times = sorted(r.at for r in receiver.received)
    assert times[-1] - times[0] >= 1.5  # 8 at 4 a second: 7 intervals of 0.25 s
    for first in times:
        assert len([t for t in times if first <= t < first + 0.5]) <= 3, times


def test_recovery_never_sends_what_came_before_the_subscription(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    # The recovery window opens a minute before the pause (stream lag), but an event
    # received before the subscription existed never matched it and is not "missed".
    post_event(api, keys.creator)
    pipeline.drain()
    sid = subscribe_id(api, keys.creator, receiver.url())
    assert api.post(f"/subscriptions/{sid}/pause", key=keys.creator).status == 200
    missed = post_event(api, keys.creator)
    pipeline.drain()
    assert api.post(f"/subscriptions/{sid}/enable", key=keys.creator).status == 200
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    pipeline.drain()
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        webhooks.message_id(sid, missed)
    ]
