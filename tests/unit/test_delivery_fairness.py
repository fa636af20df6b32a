"""Fair delivery, the worker's scheduling (docs/capacity.md, "Fair delivery"): a
tenant or subscription at its share is parked, not sent and not holding a worker;
another tenant (or another subscription) goes on; the parked delivery is woken by
its own tenant's next finished send and delivered exactly once; dead holders
expire; a batch's slow receiver does not hold the others; the rate limit delays
and never drops."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from common.store import dynamo
from common.triggers import subscriptions as subs
from common.triggers.delivery import attempts as recording
from common.triggers.delivery import fairness, messages, parking
from tests.conftest import ApiClient, Keys
from tests.unit.delivery_support import (
    Pipeline,
    Receiver,
    make_pipeline,
    post_event,
    receiver_fixture,  # noqa: F401 - fixtures
    subscribe_id,
)


@pytest.fixture(autouse=True)
def pipeline(aws: None, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("DOCKHAND_DELIVERY_TENANT_SLOTS", "2")
    monkeypatch.setenv("DOCKHAND_DELIVERY_SUBSCRIPTION_SLOTS", "1")
    return make_pipeline(monkeypatch)


def queued() -> list[dict[str, Any]]:
    """The bodies of the visible messages on the delivery queue (left there)."""
    sqs = clients.client("sqs")
    found: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        for message in sqs.receive_message(
            QueueUrl=settings().delivery_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", []):
            found[message["MessageId"]] = json.loads(message["Body"])
    return list(found.values())


def test_a_tenant_at_its_share_is_parked_and_woken_by_its_own_next_send(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    acme = subscribe_id(api, keys.creator, receiver.url("/acme"))
    globex = subscribe_id(api, keys.other_creator, receiver.url("/globex"))
    now = clock.now()
    held = [fairness.acquire("acme", f"01HOLDER{n}", now) for n in range(2)]  # acme's share
    assert all(isinstance(lease, fairness.Lease) for lease in held)
    mine = messages.Delivery("acme", acme, post_event(api, keys.creator))
    theirs = messages.Delivery("globex", globex, post_event(api, keys.other_creator))

    assert recording.deliver_message(mine).action == "parked"
    assert receiver.received == []  # not sent, and it held no worker to wait
    assert recording.deliver_message(theirs).action == "sent"  # another tenant goes on
    assert len(receiver.on("/globex")) == 1

    parked = dynamo.query_partition(
        settings().hooks_table,
        "acme",
        fairness.fair_pk("acme"),
        sort=dynamo.SortKey.begins_with(parking.PARK_PREFIX),
    ).items
    assert len(parked) == 1
    assert isinstance(held[0], fairness.Lease)
    parking.release_and_wake(held[0])  # acme's own send ends: its oldest parked goes on
    woken = [m for m in queued() if m.get("event_id") == mine.event_id and not m.get("parked")]
    assert len(woken) == 1
    assert recording.deliver_message(messages.parse_delivery(woken[0])).action == "sent"
    assert len(receiver.on("/acme")) == 1
    # The backstop copy (15 min later) finds its parked item claimed: not sent twice.
    backstop = messages.Delivery("acme", acme, mine.event_id, parked=str(parked[0]["sk"]))
    assert recording.deliver_message(backstop).action == "duplicate"
    assert len(receiver.on("/acme")) == 1


def test_one_subscription_holds_at_most_its_share_of_its_tenant(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    slow = subscribe_id(api, keys.creator, receiver.url("/slow"))
    other = subscribe_id(api, keys.creator, receiver.url("/other"))
    held = fairness.acquire("acme", slow, clock.now())  # its one slot, busy
    assert isinstance(held, fairness.Lease)
    assert (
        recording.deliver_message(
            messages.Delivery("acme", slow, post_event(api, keys.creator))
        ).action
        == "parked"
    )
    assert (
        recording.deliver_message(
            messages.Delivery("acme", other, post_event(api, keys.creator))
        ).action
        == "sent"
    )
    assert [r.path for r in receiver.received] == ["/other"]


def test_slots_of_a_worker_that_died_expire() -> None:
    long_ago = clock.now() - fairness.HOLD_SECONDS - 5
    assert isinstance(fairness.acquire("acme", "01DEAD", long_ago), fairness.Lease)  # kept
    assert isinstance(fairness.acquire("acme", "01DEAD", clock.now()), fairness.Lease)  # purged
    refused = fairness.acquire("acme", "01DEAD", clock.now())  # a live holder: full
    assert refused == fairness.Refused(subscription_full=True)


def test_a_slow_receiver_does_not_hold_the_rest_of_its_batch(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    from handlers import deliver

    receiver.answer = lambda path, n: (200, 2.0 if path == "/slow" else 0.0)
    slow = subscribe_id(api, keys.creator, receiver.url("/slow"))
    fast = subscribe_id(api, keys.other_creator, receiver.url("/fast"))
    records = [
        {
            "messageId": "1",
            "body": messages.Delivery("acme", slow, post_event(api, keys.creator)).body(),
        },
        {
            "messageId": "2",
            "body": messages.Delivery("globex", fast, post_event(api, keys.other_creator)).body(),
        },
    ]
    started = time.time()
    assert deliver.handler({"Records": records}, None) == {"batchItemFailures": []}
    (got,) = receiver.on("/fast")
    assert got.at - started < 1.5  # not after the slow one's 2 s


def test_the_rate_limit_delays_deliveries_and_drops_none(
    api: ApiClient, keys: Keys, receiver: Receiver, pipeline: Pipeline
) -> None:
    sid = subscribe_id(api, keys.creator, receiver.url())
    dynamo.update(
        settings().hooks_table,
        subs.subscription_key("acme", sid),
        "SET rate_limit_per_second = :r",
        values={":r": 2},
    )
    sent = [post_event(api, keys.creator) for _ in range(6)]
    pipeline.drain(until=lambda: len(receiver.received) == 6, timeout=30)
    got = sorted(r.at for r in receiver.received)
    assert sorted(r.json["data"]["event_id"] for r in receiver.received) == sorted(sent)
    assert got[-1] - got[0] >= 1.5  # 6 at 2 a second: spread over at least 2 s
    for first in got:  # never more than 2 + 1 (rounding to whole seconds) in a second
        assert len([t for t in got if first <= t < first + 1.0]) <= 3


def test_a_slow_subscriptions_backlog_never_stands_before_its_tenants_others(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    slow = subscribe_id(api, keys.creator, receiver.url("/slow"))
    fast = subscribe_id(api, keys.creator, receiver.url("/fast"))
    now = clock.now()
    hung = fairness.acquire("acme", slow, now)  # a hanging send holds the slow one's slot
    assert isinstance(hung, fairness.Lease)
    for _ in range(3):  # the slow one's backlog, parked first
        parked = recording.deliver_message(
            messages.Delivery("acme", slow, post_event(api, keys.creator))
        )
        assert parked.action == "parked"
    busy = fairness.acquire("acme", fast, now)  # the fast one is busy for a moment
    assert isinstance(busy, fairness.Lease)
    waiting = messages.Delivery("acme", fast, post_event(api, keys.creator))
    assert recording.deliver_message(waiting).action == "parked"
    parking.release_and_wake(busy)  # the fast one's send ends: its own line goes first
    woken = [m for m in queued() if not m.get("parked")]
    assert [m["event_id"] for m in woken] == [waiting.event_id]
    assert recording.deliver_message(messages.parse_delivery(woken[0])).action == "sent"
    assert [r.path for r in receiver.received] == ["/fast"]


def test_the_pace_reserves_moments_one_interval_apart_and_can_be_reset() -> None:
    now = clock.now()
    waits = [fairness.reserve("acme", "01PACED", 4, now) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75], abs=0.01)
    fairness.reset_pace("acme", "01PACED")
    assert fairness.reserve("acme", "01PACED", 4, now) == 0.0
    assert fairness.reserve("globex", "01PACED", 4, now) == 0.0  # per tenant
