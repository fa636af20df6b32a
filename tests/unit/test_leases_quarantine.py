"""Leased consumption: the quarantine after max attempts, requeue, delete from any state
and the quarantine pages."""

from __future__ import annotations

import pytest

from common.runtime.config import settings
from common.store import aws, ddb
from common.triggers.inbox import listing, place
from tests.conftest import ApiClient, Keys
from tests.unit.leases_support import (  # noqa: F401 - fixtures
    _ids,
    _inbox,
    _status,
    _today,
    create_event,
    lease_inbox,
    lifted_rate_limit,
    moment_fixture,
)

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
