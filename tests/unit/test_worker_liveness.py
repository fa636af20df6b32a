"""Work follows liveness: heartbeats extend what an agent holds; the sweeper's `dead`
and DELETE release it at once (attempts counted), bounded per run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from common.agents import held
from common.runtime import clock
from common.runtime.config import settings
from handlers import sweeper
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import heartbeat, register
from tests.unit.workers_support import create_events, signed_call

T0 = 1_790_000_000.0


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "3600")
    settings.cache_clear()


class Clock:
    """Moved by the test; each read is a millisecond later (distinct signatures)."""

    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds_after_t0: float) -> None:
        self.now = T0 + seconds_after_t0

    def read(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
def time_(aws: None) -> Iterator[Clock]:
    controlled = Clock()
    clock.set_clock(controlled.read)
    yield controlled
    clock.set_clock(None)


def run_sweeper() -> dict[str, Any]:
    event = {"id": "evt-1", "detail-type": "Scheduled Event", "source": "aws.events"}
    return sweeper.handler(event, None)


def _lease(api: ApiClient, agent: dict[str, Any], **body: Any) -> dict[str, Any]:
    result = signed_call(api, agent, "lease", body)
    assert result.status == 200, result.text
    answer: dict[str, Any] = result.json
    return answer


def _work(api: ApiClient, keys: Keys, agent: dict[str, Any]) -> dict[str, Any]:
    work: dict[str, Any] = api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).json["work"]
    return work


def test_heartbeats_keep_a_live_agents_work(api: ApiClient, keys: Keys, time_: Clock) -> None:
    agent = register(api, keys.creator, name="keeper", heartbeat_interval_seconds=10)
    other = register(api, keys.creator, name="other", heartbeat_interval_seconds=10)
    made = create_events(api, keys.creator, 2)
    assert len(_lease(api, agent, limit=2, lease_seconds=30)["items"]) == 2
    work = _work(api, keys, agent)
    assert work["leased"] == 2
    assert str(work["oldest_leased_at"]).startswith("2026-09-21T14:13:20.")
    # Heartbeats every 20 s keep the 30 s lease alive well past its first expiry.
    for second in (20, 40, 60):
        time_.at(second)
        assert heartbeat(api, agent).status == 200
    time_.at(75)
    assert _lease(api, other, limit=2)["items"] == []
    assert _work(api, keys, agent)["leased"] == 2
    # Silence: the lease runs out 30 s after the last heartbeat, by time alone.
    time_.at(91)
    again = _lease(api, other, limit=2)["items"]
    assert [(i["event_id"], i["attempts"]) for i in again] == [(m, 2) for m in made]


def test_agents_that_never_leased_skip_the_holder_query(
    api: ApiClient, keys: Keys, time_: Clock, aws_calls: Counter[str]
) -> None:
    agent = register(api, keys.creator, name="plain")
    aws_calls.clear()
    assert heartbeat(api, agent).status == 200
    assert aws_calls["dynamodb.Query"] == 0
    _lease(api, agent)
    aws_calls.clear()
    time_.at(5)
    assert heartbeat(api, agent).status == 200
    assert aws_calls["dynamodb.Query"] == 1  # a worker's heartbeat reads what it holds


def test_dead_agents_work_is_released_at_once_by_the_sweeper(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator, name="doomed", heartbeat_interval_seconds=10)
    rescuer = register(api, keys.creator, name="rescuer", heartbeat_interval_seconds=3600)
    made = create_events(api, keys.creator, 3)
    _lease(api, agent, limit=3, lease_seconds=3600)
    time_.at(201)  # 20 silent intervals: dead, while its lease has 56 minutes left
    summary = run_sweeper()
    assert summary["marked_dead"] == 1
    assert summary["released"] == 3
    assert _work(api, keys, agent)["leased"] == 0
    again = _lease(api, rescuer, limit=3, event_type="build.requested")["items"]
    assert [(i["event_id"], i["attempts"]) for i in again] == [(m, 2) for m in made]
    # Dead: its work calls are refused; it left the sweeper's index once drained.
    assert signed_call(api, agent, "lease", {}).status == 401
    time_.at(300)
    assert run_sweeper()["examined"] == 0


def test_release_is_bounded_per_run_and_goes_on_next_run(
    api: ApiClient, keys: Keys, time_: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held, "RELEASE_BUDGET", 2)
    agent = register(api, keys.creator, name="hoarder", heartbeat_interval_seconds=10)
    create_events(api, keys.creator, 5)
    _lease(api, agent, limit=5, lease_seconds=3600)
    time_.at(201)
    first = run_sweeper()
    assert first["marked_dead"] == 1
    assert first["released"] == 2
    assert _work(api, keys, agent)["leased"] == 3
    second = run_sweeper()  # the dead agent is still due: the next run goes on
    assert second["examined"] == 1
    assert second["released"] == 2
    third = run_sweeper()
    assert third["released"] == 1
    assert _work(api, keys, agent)["leased"] == 0
    assert run_sweeper()["examined"] == 0  # drained: out of the index


def test_deleting_an_agent_releases_its_work_at_once(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator, name="gone")
    rescuer = register(api, keys.creator, name="rescuer")
    made = create_events(api, keys.creator, 2)
    _lease(api, agent, limit=2, lease_seconds=3600)
    assert api.delete(f"/agents/{agent['agent_id']}", key=keys.creator).status == 204
    again = _lease(api, rescuer, limit=2)["items"]
    assert [(i["event_id"], i["attempts"]) for i in again] == [(m, 2) for m in made]
    assert signed_call(api, agent, "ack", {"lease_id": "x"}).status == 401


def test_deleted_agent_beyond_the_budget_leaves_a_tombstone_the_sweeper_drains(
    api: ApiClient, keys: Keys, time_: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held, "RELEASE_BUDGET", 2)
    agent = register(api, keys.creator, name="big")
    create_events(api, keys.creator, 5)
    _lease(api, agent, limit=5, lease_seconds=3600)
    assert api.delete(f"/agents/{agent['agent_id']}", key=keys.creator).status == 204
    first = run_sweeper()
    assert first["released"] == 2
    second = run_sweeper()
    assert second["released"] == 1
    assert run_sweeper()["examined"] == 0  # the tombstone is gone
    # Everything is available again.
    rescuer = register(api, keys.creator, name="rescuer")
    assert len(_lease(api, rescuer, limit=5, event_type="build.requested")["items"]) == 5


def test_another_tenants_agent_cannot_touch_this_tenants_lease(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    mine = register(api, keys.creator, name="mine")
    theirs = register(api, keys.other_creator, name="theirs")
    create_events(api, keys.creator, 1)
    lease_id = _lease(api, mine)["lease_id"]
    # The other tenant's agent sees none of acme's events and cannot use acme's lease id.
    assert _lease(api, theirs)["items"] == []
    assert signed_call(api, theirs, "ack", {"lease_id": lease_id}).status == 404
    assert signed_call(api, theirs, "release", {"lease_id": lease_id}).status == 404
    assert _work(api, keys, mine)["leased"] == 1
