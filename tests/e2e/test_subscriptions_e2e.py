"""Subscriptions, complete, against the local gateway (`make run`) over real HTTP: PATCH,
pause → events → enable (the missed events arrive oldest first with their original
webhook-ids), `recover: false`, a test send, a resend, and a PATCH to a private
address refused.  Receivers on loopback answer normally; every delivery is verified
with the Standard Webhooks reference library."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from common.triggers import webhooks
from tests.e2e import conftest as e2e
from tests.unit.delivery_support import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def tenant(gateway: e2e.Gateway) -> str:
    return gateway.create_key(f"t{time.time_ns()}", "creator")


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)  # under the key's rate limit
    raise AssertionError("timed out")


def subscribe(gateway: e2e.Gateway, key: str, url: str, **fields: Any) -> dict[str, Any]:
    result = gateway.http("POST", "/subscriptions", key, {"url": url, **fields})
    assert result.status == 201, result.body
    return dict(result.json)


def post_event(gateway: e2e.Gateway, key: str, event_type: str = "order.created") -> str:
    created = gateway.http(
        "POST", "/events", key, {"event_type": event_type, "payload": {"n": time.time_ns()}}
    )
    assert created.status == 201, created.body
    return str(created.json["event_id"])


def test_patch_keeps_the_secret_and_refuses_a_private_address(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    sub = subscribe(gateway, tenant, receiver.url("/old"))
    path = f"/subscriptions/{sub['subscription_id']}"
    changed = gateway.http(
        "PATCH",
        path,
        tenant,
        {"url": receiver.url("/new"), "headers": {"X-Token": "abc"}, "rate_limit_per_second": 50},
    )
    assert changed.status == 200, changed.body
    assert (changed.json["url"], changed.json["headers"]) == (
        receiver.url("/new"),
        {"X-Token": "abc"},
    )
    event_id = post_event(gateway, tenant)
    wait_for(lambda: len(receiver.on("/new")) == 1)
    got = receiver.on("/new")[0]
    assert Webhook(sub["secret"]).verify(got.body, got.headers)["data"]["event_id"] == event_id
    # (Custom headers on deliveries are the delivery worker's part; the test send below
    # checks them on what this API sends itself.)
    assert receiver.on("/old") == []
    for private in ("https://10.0.0.1/hook", "https://169.254.169.254/", "https://[::1]/"):
        refused = gateway.http("PATCH", path, tenant, {"url": private})
        assert (refused.status, refused.error_code) == (400, "validation_error"), private
    assert gateway.http("GET", path, tenant).json["url"] == receiver.url("/new")


def test_pause_then_enable_sends_the_missed_events_oldest_first(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    sub = subscribe(gateway, tenant, receiver.url(), event_types=["order.*"])
    sid = sub["subscription_id"]
    post_event(gateway, tenant)
    wait_for(lambda: len(receiver.received) == 1)
    paused = gateway.http("POST", f"/subscriptions/{sid}/pause", tenant)
    assert (paused.status, paused.json["status"]) == (200, "paused")
    assert paused.json["paused_at"] is not None
    missed = [post_event(gateway, tenant) for _ in range(3)]
    post_event(gateway, tenant, "other.type")
    time.sleep(2.5)  # delivery starts within 2 s: nothing arrives while paused
    assert len(receiver.received) == 1
    enabled = gateway.http("POST", f"/subscriptions/{sid}/enable", tenant)
    assert (enabled.status, enabled.json["status"]) == (200, "active"), enabled.body
    wait_for(lambda: len(receiver.received) == 4)
    time.sleep(0.5)
    recovered = receiver.received[1:]
    assert len(recovered) == 3
    got = {
        Webhook(sub["secret"]).verify(r.body, r.headers)["data"]["event_id"]: r.headers[
            "webhook-id"
        ]
        for r in recovered
    }
    # Each missed event once, with its original webhook-id.  They are queued oldest first;
    # the local gateway's several queue workers may finish them in another order (the
    # in-process test, one worker, checks the order: tests/unit/test_subscription_recovery.py).
    assert sorted(got) == missed
    for event_id, webhook_id in got.items():
        assert webhook_id == webhooks.message_id(sid, event_id)


def test_enable_with_recover_false_sends_nothing_missed(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    sid = subscribe(gateway, tenant, receiver.url())["subscription_id"]
    gateway.http("POST", f"/subscriptions/{sid}/pause", tenant)
    post_event(gateway, tenant)
    time.sleep(2.5)  # dispatched (and skipped) while paused
    enabled = gateway.http("POST", f"/subscriptions/{sid}/enable", tenant, {"recover": False})
    assert enabled.status == 200, enabled.body
    after = post_event(gateway, tenant)
    wait_for(lambda: len(receiver.received) == 1)
    time.sleep(1.0)
    assert [r.json["data"]["event_id"] for r in receiver.received] == [after]


def test_test_send_and_resend(gateway: e2e.Gateway, tenant: str, receiver: Receiver) -> None:
    sub = subscribe(gateway, tenant, receiver.url(), headers={"X-Token": "abc"})
    sid = sub["subscription_id"]
    tested = gateway.http("POST", f"/subscriptions/{sid}/test", tenant)
    assert tested.status == 200, tested.body
    assert (tested.json["status_code"], tested.json["error"]) == (200, None)
    (got,) = receiver.received
    assert Webhook(sub["secret"]).verify(got.body, got.headers)["type"] == "webhook.test"
    assert got.headers["x-token"] == "abc"
    log = gateway.http("GET", f"/subscriptions/{sid}/deliveries", tenant).json["items"]
    assert [line["trigger"] for line in log] == ["test"]
    event_id = post_event(gateway, tenant)
    wait_for(lambda: len(receiver.received) == 2)
    resent = gateway.http("POST", f"/subscriptions/{sid}/resend", tenant, {"event_id": event_id})
    assert resent.status == 202, resent.body
    wait_for(lambda: len(receiver.received) == 3)
    assert receiver.received[2].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    unknown = gateway.http(
        "POST", f"/subscriptions/{sid}/resend", tenant, {"event_id": "01JDC5A1B2C3D4E5F6G7H8J9K0"}
    )
    assert (unknown.status, unknown.error_code) == (404, "not_found")


def test_a_rate_limited_subscription_gets_its_pace_with_its_headers_and_loses_nothing(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    sub = subscribe(
        gateway,
        tenant,
        receiver.url("/paced"),
        rate_limit_per_second=2,
        headers={"X-Team": "payments"},
    )
    sent = [post_event(gateway, tenant) for _ in range(8)]
    wait_for(lambda: len(receiver.on("/paced")) == 8, timeout=30.0)
    got = receiver.on("/paced")
    ids = {Webhook(sub["secret"]).verify(r.body, r.headers)["data"]["event_id"] for r in got}
    assert ids == set(sent)  # delayed, never dropped
    assert all(r.headers.get("x-team") == "payments" for r in got)
    times = sorted(r.at for r in got)
    # 2 a second: the 8 arrive over at least 3 s (one second of slack for the window edges),
    # and no second holds more than the limit plus that edge.
    assert times[-1] - times[0] >= 2.5, times
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 3
