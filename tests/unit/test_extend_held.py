"""POST /inbox/extend and the leases an agent holds (#30): extension by lease_seconds
from now, lease_lost, the last lease's quarantine moving with it, and the holder index
(extend_held, release_held, held_work) without a scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import ddb, dynamo
from common.triggers import fanout, queues
from common.triggers.inbox import held, place
from common.triggers.inbox import lease as leases
from common.triggers.layout import EVENT_SK, event_pk
from tests.conftest import ApiClient, Keys
from tests.unit import leases_support
from tests.unit.leases_support import START, create_event, lease_inbox


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    leases_support.generous_rate_limit(monkeypatch)


@pytest.fixture
def moment() -> Iterator[list[float]]:
    yield from leases_support.moving_clock()


def _near(iso: str | None, moment: float) -> bool:
    """Within a second of `moment` (the test clock ticks a millisecond per read)."""
    return iso is not None and abs(clock.parse_iso(iso).timestamp() - moment) < 1


def _extend(api: ApiClient, key: str, **body: Any) -> Any:
    return api.post("/inbox/extend", key=key, json_body=body)


def test_extend_holds_the_events_lease_seconds_from_now(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    ids = [create_event(api, keys.creator, n) for n in range(2)]
    held_lease = lease_inbox(api, keys.creator, limit=2, lease_seconds=30)
    moment[0] += 20
    answer = _extend(api, keys.creator, lease_id=held_lease["lease_id"], lease_seconds=60)
    assert answer.status == 200
    assert answer.json["extended"] == ids
    assert answer.json["lease_lost"] == answer.json["not_found"] == []
    assert _near(answer.json["expires_at"], START + 80)
    moment[0] += 50  # past the first expiry (30 s), inside the extension (80 s)
    assert lease_inbox(api, keys.creator, limit=2)["items"] == []
    listed = api.get("/inbox", key=keys.viewer).json["items"]
    assert all(_near(item["leased_until"], START + 80) for item in listed)
    acked = api.post("/inbox/ack", key=keys.creator, json_body={"lease_id": held_lease["lease_id"]})
    assert acked.json["acknowledged"] == ids


def test_extend_reports_lease_lost_and_not_found(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    taken, kept = create_event(api, keys.creator, 0), create_event(api, keys.creator, 1)
    first = lease_inbox(api, keys.creator, limit=2, lease_seconds=30)
    moment[0] += 31
    second = lease_inbox(api, keys.creator, limit=1, lease_seconds=30)  # takes the oldest
    assert [i["event_id"] for i in second["items"]] == [taken]
    answer = _extend(
        api,
        keys.creator,
        lease_id=first["lease_id"],
        lease_seconds=30,
        event_ids=[taken, kept, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "junk"],
    ).json
    # `kept` expired but nobody took it: it still names this lease, so it extends.
    assert answer["extended"] == [kept]
    assert answer["lease_lost"] == [taken]
    assert answer["not_found"] == ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "junk"]
    # An acknowledged event is not found for an extension.
    api.post("/inbox/ack", key=keys.creator, json_body={"lease_id": second["lease_id"]})
    again = _extend(api, keys.creator, lease_id=second["lease_id"], lease_seconds=30).json
    assert again["not_found"] == [taken]


def test_extend_validation_and_tenants(api: ApiClient, keys: Keys) -> None:
    create_event(api, keys.creator, 0)
    lease_id = lease_inbox(api, keys.creator)["lease_id"]
    for body in (
        {"lease_id": lease_id, "lease_seconds": 4},
        {"lease_id": lease_id, "lease_seconds": 3601},
        {"lease_id": lease_id, "lease_seconds": "30"},
        {"lease_id": lease_id},
        {"lease_seconds": 30},
        {"lease_id": lease_id, "lease_seconds": 30, "event_ids": []},
        {"lease_id": lease_id, "lease_seconds": 30, "extra": 1},
    ):
        assert _extend(api, keys.creator, **body).error_code == "validation_error", body
    assert _extend(api, keys.creator, lease_id="nope", lease_seconds=30).status == 404
    assert _extend(api, keys.other_creator, lease_id=lease_id, lease_seconds=30).status == 404
    assert _extend(api, keys.viewer, lease_id=lease_id, lease_seconds=30).status == 403


def test_extending_a_last_lease_moves_its_quarantine(
    api: ApiClient, keys: Keys, moment: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_MAX_ATTEMPTS", "1")
    settings.cache_clear()
    event_id = create_event(api, keys.creator, 0)
    lease_id = lease_inbox(api, keys.creator, lease_seconds=30)["lease_id"]
    assert _extend(api, keys.creator, lease_id=lease_id, lease_seconds=100).json["extended"] == [
        event_id
    ]
    moment[0] += 50
    assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "pending"
    assert api.get("/inbox/quarantine", key=keys.viewer).json["items"] == []
    moment[0] += 51
    assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "quarantined"
    assert len(api.get("/inbox/quarantine", key=keys.viewer).json["items"]) == 1
    # Once its last lease has ended, it cannot be extended back out of the quarantine.
    late = _extend(api, keys.creator, lease_id=lease_id, lease_seconds=100).json
    assert late["not_found"] == [event_id]


# ---------------------------------------------------------------- held by an agent


def _queue_copy(event_id: str) -> None:
    """The stream's fan-out of one stored event (as dispatch would run it)."""
    item = dynamo.get(settings().events_table, {"pk": event_pk("acme", event_id), "sk": EVENT_SK})
    assert item is not None
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": ddb.serialize(item)}}
    assert fanout.fill_queues([record]) == 1


def test_an_agents_leases_are_found_extended_and_released_without_a_scan(
    api: ApiClient, keys: Keys, moment: list[float], aws_calls: Counter[str]
) -> None:
    queues.create("acme", queues.NewQueue(name="jobs"))
    ids = [create_event(api, keys.creator, n) for n in range(3)]
    for event_id in ids:
        _queue_copy(event_id)
    inbox, jobs = place.inbox("acme"), queues.place_of("acme", "jobs")
    leases.lease(inbox, 2, 30, None, holder="agent-1")
    leases.lease(jobs, 1, 60, None, holder="agent-1")
    leases.lease(inbox, 1, 30, None)  # nobody's by name
    leases.lease(jobs, 1, 600, None, holder="agent-2")
    work = held.held_work("acme", "agent-1")
    assert work["leased"] == 3
    assert work["oldest_leased_at"] is not None
    assert held.held_work("acme", "agent-2")["leased"] == 1
    assert held.held_work("globex", "agent-1") == {"leased": 0, "oldest_leased_at": None}

    moment[0] += 20
    aws_calls.clear()
    assert held.extend_held("acme", "agent-1", clock.now()) == 3
    # One Query of the holder index, one transaction per queue; never a Scan.
    assert aws_calls["dynamodb.Query"] == 1
    assert aws_calls["dynamodb.TransactWriteItems"] == 2
    assert aws_calls["dynamodb.Scan"] == 0
    # Each by its own lease_seconds: the inbox's 30 s and the queue's 60 s from now.
    listed = {
        i["event_id"]: i["leased_until"] for i in api.get("/inbox", key=keys.viewer).json["items"]
    }
    assert _near(listed[ids[0]], START + 50)
    moment[0] += 25  # past the original expiry: the agent's are still held, the other not
    assert [i["event_id"] for i in leases.lease(inbox, 3, 30, None)["items"]] == [ids[2]]

    assert held.release_held("acme", "agent-1", limit=2) == 2
    assert held.release_held("acme", "agent-1", limit=2) == 1
    assert held.release_held("acme", "agent-1") == 0
    assert held.held_work("acme", "agent-1") == {"leased": 0, "oldest_leased_at": None}
    again = leases.lease(inbox, 3, 30, None)["items"]
    assert sorted(i["event_id"] for i in again) == ids[:2]
    assert all(i["attempts"] == 2 for i in again)  # attempts stay counted
    # agent-2's lease is its own.
    assert held.held_work("acme", "agent-2")["leased"] == 1


def test_an_expired_or_retaken_lease_is_not_the_agents_any_more(
    api: ApiClient, keys: Keys, moment: list[float]
) -> None:
    event_id = create_event(api, keys.creator, 0)
    inbox = place.inbox("acme")
    leases.lease(inbox, 1, 30, None, holder="agent-1")
    moment[0] += 31
    assert held.held_work("acme", "agent-1")["leased"] == 0
    assert held.extend_held("acme", "agent-1") == 0
    taken = leases.lease(inbox, 1, 30, None)  # another consumer takes it
    assert [i["event_id"] for i in taken["items"]] == [event_id]
    assert held.release_held("acme", "agent-1") == 0
    assert api.get("/inbox", key=keys.viewer).json["items"][0]["leased_until"] is not None


def test_an_ack_carries_extra_items_in_its_own_transaction_exactly_once(
    api: ApiClient, keys: Keys
) -> None:
    from common.store import counters
    from common.triggers.inbox import ack

    ids = [create_event(api, keys.creator, n) for n in range(2)]
    inbox = place.inbox("acme")
    lease_id = leases.lease(inbox, 2, 30, None, holder="agent-1")["lease_id"]
    seen: list[list[str]] = []

    def outcomes(pending: Any) -> list[dict[str, Any]]:
        seen.append(sorted(pending))
        return [counters.update_item("globex", {"events_received": len(pending)}, clock.now())]

    first = ack.acknowledge_lease(inbox, lease_id, [ids[0]], extra=outcomes)
    again = ack.acknowledge_lease(inbox, lease_id, None, extra=outcomes)
    assert first["acknowledged"] == [ids[0]]
    assert again["acknowledged"] == ids
    # The second call's transaction held only the event not acknowledged before.
    assert seen == [[ids[0]], [ids[0], ids[1]], [ids[1]]]
