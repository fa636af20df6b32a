"""The liveness sweeper: healthy → unhealthy after 3 silent intervals, → dead after
10 minutes, healed by a heartbeat; cost follows the agents that change state."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from common.agents import layout, signing
from common.agents import sweep as sweeping
from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from common.store import ddb
from handlers import sweeper
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import heartbeat, register

T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds_after_t0: float) -> None:
        self.now = T0 + seconds_after_t0


@pytest.fixture
def time_(aws: None) -> Clock:
    controlled = Clock()
    clock.set_clock(lambda: controlled.now)
    return controlled


def status_of(api: ApiClient, keys: Keys, agent: dict[str, Any]) -> str:
    return str(api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).json["status"])


def run_sweeper() -> dict[str, Any]:
    event = {"id": "evt-1", "detail-type": "Scheduled Event", "source": "aws.events"}
    return sweeper.handler(event, None)


def test_silence_makes_an_agent_unhealthy_then_dead(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    assert heartbeat(api, agent).status == 200
    time_.at(90)  # exactly 3 intervals: not yet
    assert run_sweeper()["marked_unhealthy"] == 0
    assert status_of(api, keys, agent) == "healthy"
    time_.at(91)
    assert run_sweeper() == {
        "marked_unhealthy": 1,
        "marked_dead": 0,
        "lost_races": 0,
        "examined": 1,
        "released": 0,
    }
    assert status_of(api, keys, agent) == "unhealthy"
    time_.at(599)
    assert run_sweeper()["marked_dead"] == 0
    time_.at(601)
    assert run_sweeper()["marked_dead"] == 1
    assert status_of(api, keys, agent) == "dead"
    # Dead agents are out of the sweeper's index: later runs do not even see them.
    time_.at(3600)
    assert run_sweeper() == {
        "marked_unhealthy": 0,
        "marked_dead": 0,
        "lost_races": 0,
        "examined": 0,
        "released": 0,
    }


def test_an_agent_that_never_heartbeats_is_swept_from_registration(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    time_.at(100)
    run_sweeper()
    assert status_of(api, keys, agent) == "unhealthy"


def test_a_long_silent_healthy_agent_goes_straight_to_dead(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    time_.at(900)  # the sweeper did not run for 15 minutes
    assert run_sweeper()["marked_dead"] == 1
    assert status_of(api, keys, agent) == "dead"


@pytest.mark.parametrize("silence", [120, 900])
def test_a_heartbeat_heals_unhealthy_and_dead_agents(
    api: ApiClient, keys: Keys, time_: Clock, silence: int
) -> None:
    agent = register(api, keys.creator)
    time_.at(silence)
    run_sweeper()
    assert status_of(api, keys, agent) in {"unhealthy", "dead"}
    assert heartbeat(api, agent).status == 200
    assert status_of(api, keys, agent) == "healthy"
    # Healed agents are watched again.
    time_.at(silence + 95)
    run_sweeper()
    assert status_of(api, keys, agent) == "unhealthy"


def test_retried_sweep_changes_nothing_twice(api: ApiClient, keys: Keys, time_: Clock) -> None:
    register(api, keys.creator, name="a")
    register(api, keys.creator, name="b")
    time_.at(120)
    assert run_sweeper()["marked_unhealthy"] == 2
    assert run_sweeper()["marked_unhealthy"] == 0


def test_a_heartbeat_racing_the_sweeper_wins(api: ApiClient, keys: Keys, time_: Clock) -> None:
    agent = register(api, keys.creator)
    time_.at(120)
    # The sweeper read the stale agent from its index; then the heartbeat lands.
    stale = sweeping.due_agents(layout.shard_of(agent["agent_id"]), int(clock.now() * 1000))
    assert len(stale) == 1
    assert heartbeat(api, agent).status == 200
    summary = sweeping.SweepSummary()
    sweeping.transition(stale[0], "unhealthy", summary, clock.now())
    assert summary.lost_races == 1
    assert summary.marked_unhealthy == 0
    assert status_of(api, keys, agent) == "healthy"


def _put_agents_directly(count: int, heartbeat_ms: int, prefix: str) -> None:
    """Agents as registration stores them, written in batches (fast set-up)."""
    table = settings().agents_table
    requests = []
    for i in range(count):
        agent_id = signing.new_agent_id("acme")
        item = {
            "pk": f"T#acme#A#{agent_id}",
            "sk": "A",
            "gsi1pk": "T#acme#AGENTS",
            "gsi1sk": f"{prefix}-{i:04d}",
            "gsi2pk": layout.liveness_pk(layout.shard_of(agent_id)),
            "gsi2sk": layout.liveness_sk(
                layout.due_ms("healthy", heartbeat_ms, 30), "acme", agent_id
            ),
            "agent_id": agent_id,
            "tenant": "acme",
            "name": f"{prefix}-{i:04d}",
            "status": "healthy",
            "created_at": clock.iso(clock.now()),
            "last_ts": 0,
            "last_heartbeat_ms": heartbeat_ms,
        }
        requests.append({"PutRequest": {"Item": ddb.serialize(item)}})
    for start in range(0, len(requests), 25):
        clients.dynamodb().batch_write_item(RequestItems={table: requests[start : start + 25]})


def test_sweep_cost_follows_the_agents_that_change(aws_calls: Counter[str], time_: Clock) -> None:
    now_ms = int(T0 * 1000)
    _put_agents_directly(1000, now_ms - 10_000, "fresh")
    _put_agents_directly(3, now_ms - 120_000, "stale")
    aws_calls.clear()
    summary = run_sweeper()
    assert summary["marked_unhealthy"] == 3
    assert summary["examined"] == 3
    shards = settings().agent_shards
    # One Query per shard, one transaction per change (agent, history entry, its event).
    assert aws_calls == Counter({"dynamodb.Query": shards, "dynamodb.TransactWriteItems": 3})


def test_a_failing_sweep_raises_for_eventbridge_to_retry(aws: None, time_: Clock) -> None:
    from botocore.exceptions import ClientError

    def unavailable(**_: Any) -> tuple[Any, dict[str, Any]]:
        http = type("Http", (), {"status_code": 500, "headers": {}})()
        error = {"Code": "InternalServerError", "Message": "down"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}

    clients.dynamodb().meta.events.register("before-call.dynamodb.Query", unavailable)
    with pytest.raises(ClientError):
        run_sweeper()
