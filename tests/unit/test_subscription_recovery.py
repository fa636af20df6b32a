"""Pause, enable with recovery, test sends and resends, in process: POST /events → the
stream → dispatch → SQS → deliver → a loopback receiver verifying every delivery with the
Standard Webhooks reference library.  Includes the crash between the status flip and
the start of the recovery."""

from __future__ import annotations

from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from common.triggers import recovery, webhooks
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import (  # noqa: F401 - fixtures
    Pipeline,
    Receiver,
    make_pipeline,
    pipeline_fixture,
    post_event,
    receiver_fixture,
    running_receiver,
    subscribe,
)


def sid_of(sub: dict[str, Any]) -> str:
    return str(sub["subscription_id"])


def paused_with_events(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline, **fields: Any
) -> tuple[dict[str, Any], str, list[str]]:
    """A subscription (orders only) that got one event live, then missed three while
    paused (and one of another type that it never matched)."""
    sub = subscribe(api, keys.creator, receiver.url(), event_types=["order.*"], **fields)
    live = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    assert api.post(f"/subscriptions/{sid_of(sub)}/pause", key=keys.creator).status == 200
    missed = [post_event(api, keys.creator) for _ in range(3)]
    post_event(api, keys.creator, "other.type")  # never matched this subscription's filter
    pipeline.drain()
    assert len(receiver.received) == 1  # nothing is sent while paused
    return sub, live, missed


def test_enable_sends_what_matched_while_paused_oldest_first_with_original_ids(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub, live, missed = paused_with_events(api, keys, receiver, pipeline)
    enabled = api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    assert enabled.status == 200, enabled.text
    assert (enabled.json["status"], enabled.json["paused_at"]) == ("active", None)
    pipeline.drain(until=lambda: len(receiver.received) == 4)
    pipeline.drain()
    recovered = receiver.received[1:]
    assert [r.verify(sub["secret"])["data"]["event_id"] for r in recovered] == missed
    for got, event_id in zip(recovered, missed, strict=True):
        assert got.headers["webhook-id"] == webhooks.message_id(sid_of(sub), event_id)
    assert live not in [r.json["data"]["event_id"] for r in recovered]
    assert "recovery_id" not in subs.get("acme", sid_of(sub)).item  # done: nothing pending
    after = post_event(api, keys.creator)  # live delivery again
    pipeline.drain(until=lambda: len(receiver.received) == 5)
    assert receiver.received[-1].json["data"]["event_id"] == after


def test_recover_false_skips_what_was_missed(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub, _, _ = paused_with_events(api, keys, receiver, pipeline)
    enabled = api.post(
        f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator, json_body={"recover": False}
    )
    assert enabled.status == 200, enabled.text
    pipeline.drain()
    assert len(receiver.received) == 1
    after = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    assert receiver.received[-1].json["data"]["event_id"] == after


def test_re_enabling_a_disabled_subscription_recovers_since_the_disable(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    clients.dynamodb().update_item(  # what the delivery worker's auto-disable writes
        TableName=settings().hooks_table,
        Key={"pk": {"S": "T#acme#SUBS"}, "sk": {"S": sid_of(sub)}},
        UpdateExpression="SET #s = :d, disabled_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "disabled"}, ":t": {"S": clock.iso(clock.now())}},
    )
    missed = [post_event(api, keys.creator) for _ in range(2)]
    pipeline.drain()
    assert len(receiver.received) == 1
    assert api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator).status == 200
    pipeline.drain(until=lambda: len(receiver.received) == 3)
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == missed


class Crash(BaseException):
    """A process that dies: not an Exception, so nothing on the way catches it."""


def test_a_crash_between_the_flip_and_the_recovery_loses_nothing(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handlers import retry

    sub, _, missed = paused_with_events(api, keys, receiver, pipeline)

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(replays, "start_replay", die)
    with pytest.raises(Crash):
        api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    monkeypatch.undo()
    item = subs.get("acme", sid_of(sub)).item
    assert item["status"] == "active"  # the flip happened ...
    assert item["recovery_since"] <= item["recovery_until"]  # ... with its window recorded
    pipeline.drain()
    assert len(receiver.received) == 1  # and nothing of it was sent yet
    retry.handler({}, None)
    pipeline.drain()
    assert len(receiver.received) == 1  # the enabling request's grace period: not yet
    later = clock.now() + recovery.GRACE_SECONDS + 1
    clock.set_clock(lambda: later)
    try:
        retry.handler({}, None)  # the scheduled sweep finds it due and starts it
        retry.handler({}, None)  # a second (overlapping) run starts nothing more
    finally:
        clock.set_clock(None)
    pipeline.drain(until=lambda: len(receiver.received) == 4)
    pipeline.drain()
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == missed
    assert "recovery_id" not in subs.get("acme", sid_of(sub)).item


def test_a_queue_failure_at_recovery_start_still_answers_200_and_the_sweep_sends(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from common.runtime.errors import ServiceUnavailable
    from handlers import retry

    sub, _, missed = paused_with_events(api, keys, receiver, pipeline)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ServiceUnavailable(retry_after=1)

    monkeypatch.setattr(replays, "start_replay", refused)
    enabled = api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    assert enabled.status == 200, enabled.text  # the window is durable: the sweep sends it
    monkeypatch.undo()
    later = clock.now() + recovery.GRACE_SECONDS + 1
    clock.set_clock(lambda: later)
    try:
        retry.handler({}, None)
    finally:
        clock.set_clock(None)
    pipeline.drain(until=lambda: len(receiver.received) == 4)
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == missed


def test_a_pause_before_a_pending_recovery_starts_widens_it_instead_of_losing_it(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handlers import retry

    sub, _, missed = paused_with_events(api, keys, receiver, pipeline)
    monkeypatch.setattr(replays, "start_replay", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    monkeypatch.undo()
    assert api.post(f"/subscriptions/{sid_of(sub)}/pause", key=keys.creator).status == 200
    more = post_event(api, keys.creator)
    later = clock.now() + recovery.GRACE_SECONDS + 1
    clock.set_clock(lambda: later)
    try:
        retry.handler({}, None)  # paused again: the sweep leaves it pending
    finally:
        clock.set_clock(None)
    pipeline.drain()
    assert len(receiver.received) == 1
    assert api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator).status == 200
    pipeline.drain(until=lambda: len(receiver.received) == 5)
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == [*missed, more]


def test_test_send_is_signed_synchronous_logged_and_stores_no_event(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url(), headers={"Authorization": "Bearer tok"})
    result = api.post(f"/subscriptions/{sid_of(sub)}/test", key=keys.creator)
    assert result.status == 200, result.text
    assert set(result.json) == {"status_code", "error", "duration_ms"}
    assert (result.json["status_code"], result.json["error"]) == (200, None)
    (got,) = receiver.received  # sent before the answer
    payload = got.verify(sub["secret"])
    assert payload["type"] == "webhook.test"
    assert payload["data"]["event_type"] == "webhook.test"
    assert got.headers["authorization"] == "Bearer tok"
    test_event = payload["data"]["event_id"]
    assert api.get(f"/events/{test_event}", key=keys.viewer).status == 404
    assert api.get("/inbox", key=keys.viewer).json["items"] == []
    (line,) = api.get(f"/subscriptions/{sid_of(sub)}/deliveries", key=keys.viewer).json["items"]
    assert (line["event_id"], line["trigger"], line["status_code"]) == (test_event, "test", 200)
    shown = api.get(f"/subscriptions/{sid_of(sub)}", key=keys.viewer).json
    assert shown["last_success_at"] is None  # a test is not a delivery


def test_test_send_reports_a_failing_receiver(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (503, 0.0)
    sub = subscribe(api, keys.creator, receiver.url())
    assert api.post(f"/subscriptions/{sid_of(sub)}/pause", key=keys.creator).status == 200
    result = api.post(f"/subscriptions/{sid_of(sub)}/test", key=keys.creator, json_body={})
    assert result.status == 200, result.text  # paused: tests still go (is it back yet?)
    assert (result.json["status_code"], result.json["error"]) == (503, "http_status: 503")
    assert result.json["duration_ms"] >= 0
    refused = api.post(f"/subscriptions/{sid_of(sub)}/test", key=keys.creator, json_body={"a": 1})
    assert (refused.status, refused.error_code) == (400, "validation_error")


def test_resend_sends_one_event_again_with_its_original_webhook_id(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url(), event_types=["order.*"])
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    result = api.post(
        f"/subscriptions/{sid_of(sub)}/resend", key=keys.creator, json_body={"event_id": event_id}
    )
    assert result.status == 202, result.text
    assert result.json["webhook_id"] == receiver.received[0].headers["webhook-id"]
    pipeline.drain(until=lambda: len(receiver.received) == 2)
    again = receiver.received[1]
    assert again.verify(sub["secret"])["data"]["event_id"] == event_id
    assert again.headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
    twice = api.post(
        f"/subscriptions/{sid_of(sub)}/resend", key=keys.creator, json_body={"event_id": event_id}
    )
    assert twice.status == 202  # each resend sends once more
    pipeline.drain(until=lambda: len(receiver.received) == 3)
    pipeline.drain()
    log = api.get(f"/subscriptions/{sid_of(sub)}/deliveries", key=keys.viewer).json["items"]
    assert sorted(line["trigger"] for line in log) == ["live", "resend", "resend"]


def test_resend_of_an_event_the_subscription_never_matched_is_404(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    older = post_event(api, keys.creator)
    sub = subscribe(api, keys.creator, receiver.url(), event_types=["order.*"])
    other_type = post_event(api, keys.creator, "build.done")
    foreign = api.post(
        "/events", key=keys.other_creator, json_body={"event_type": "order.x", "payload": {}}
    ).json["event_id"]
    for event_id in (older, other_type, foreign, "01JDC5A1B2C3D4E5F6G7H8J9K0", "nope"):
        result = api.post(
            f"/subscriptions/{sid_of(sub)}/resend",
            key=keys.creator,
            json_body={"event_id": event_id},
        )
        assert (result.status, result.error_code) == (404, "not_found"), event_id
    pipeline.drain()
    assert receiver.received == []
    for body in ({}, {"event_id": ""}, {"event_id": 5}, {"event_id": older, "x": 1}):
        bad = api.post(f"/subscriptions/{sid_of(sub)}/resend", key=keys.creator, json_body=body)
        assert (bad.status, bad.error_code) == (400, "validation_error"), body


def test_resend_while_paused_is_a_conflict(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub = subscribe(api, keys.creator, receiver.url())
    event_id = post_event(api, keys.creator)
    pipeline.drain(until=lambda: len(receiver.received) == 1)
    api.post(f"/subscriptions/{sid_of(sub)}/pause", key=keys.creator)
    result = api.post(
        f"/subscriptions/{sid_of(sub)}/resend", key=keys.creator, json_body={"event_id": event_id}
    )
    assert (result.status, result.error_code) == (409, "conflict")


def test_enabling_twice_recovers_once_and_an_active_enable_changes_nothing(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub, _, missed = paused_with_events(api, keys, receiver, pipeline)
    first = api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    second = api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    assert (first.status, second.status) == (200, 200)
    assert second.json == first.json
    pipeline.drain(until=lambda: len(receiver.received) == 4)
    pipeline.drain()
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == missed


def test_a_foreign_tenant_cannot_pause_enable_or_resend(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sub, live, _ = paused_with_events(api, keys, receiver, pipeline)
    sid = sid_of(sub)
    assert api.post(f"/subscriptions/{sid}/enable", key=keys.other_creator).status == 404
    resent = api.post(
        f"/subscriptions/{sid}/resend", key=keys.other_creator, json_body={"event_id": live}
    )
    assert resent.status == 404
    assert api.post(f"/subscriptions/{sid}/test", key=keys.other_creator).status == 404
    pipeline.drain()
    assert len(receiver.received) == 1  # still paused, nothing sent
    assert subs.get("acme", sid).status == "paused"


def test_a_client_retrying_its_failed_enable_starts_the_pending_recovery_at_once(
    api: ApiClient,
    keys: Keys,
    receiver: Receiver,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sub, _, missed = paused_with_events(api, keys, receiver, pipeline)
    monkeypatch.setattr(replays, "start_replay", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    monkeypatch.undo()
    again = api.post(f"/subscriptions/{sid_of(sub)}/enable", key=keys.creator)
    assert (again.status, again.json["status"]) == (200, "active")
    pipeline.drain(until=lambda: len(receiver.received) == 4)  # no sweep needed
    pipeline.drain()
    assert [r.json["data"]["event_id"] for r in receiver.received[1:]] == missed
    assert "recovery_id" not in subs.get("acme", sid_of(sub)).item
