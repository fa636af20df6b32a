"""Agents part 2: status changes as inbox events and history (one per change, even
under overlapping or retried sweeps), deletion, secret rotation with a 10-minute
overlap, and per-agent heartbeat intervals."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from common.agents import layout
from common.agents import sweep as sweeping
from common.runtime import clock
from common.runtime.config import settings
from handlers import sweeper
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import FIGURES, heartbeat, register, signed_headers
from tests.unit.events_support import serialised_transactions_fixture  # noqa: F401 - a fixture

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


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


def run_sweeper() -> dict[str, Any]:
    return sweeper.handler({"id": "evt", "source": "aws.events"}, None)


def alerts(api: ApiClient, key: str, event_type: str | None = None) -> list[dict[str, Any]]:
    query = {"limit": "200", **({"event_type": event_type} if event_type else {})}
    result = api.get("/inbox", key=key, query=query)
    assert result.status == 200, result.text
    return [i for i in result.json["items"] if i["event_type"].startswith("agent.")]


def history(api: ApiClient, key: str, agent_id: str, **query: str) -> Any:
    return api.get(f"/agents/{agent_id}/history", key=key, query=query or None)


# --------------------------------------------------------------------------- alerts


def test_each_change_is_one_event_in_the_tenants_inbox(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator, region="eu-west-1")
    assert heartbeat(api, agent).status == 200
    time_.at(91)
    run_sweeper()
    time_.at(601)
    run_sweeper()
    time_.at(700)
    assert heartbeat(api, agent).status == 200

    seen = alerts(api, keys.viewer)
    assert [e["event_type"] for e in seen] == ["agent.unhealthy", "agent.dead", "agent.recovered"]
    assert {e["source"] for e in seen} == {"dockhand.agents"}
    assert seen[0]["payload"] == {
        "agent_id": agent["agent_id"],
        "name": "builder-1",
        "region": "eu-west-1",
        "previous_status": "healthy",
        "status": "unhealthy",
        "last_heartbeat_at": "2026-09-21T14:13:20.000Z",
    }
    assert seen[1]["payload"]["previous_status"] == "unhealthy"
    assert seen[1]["payload"]["status"] == "dead"
    assert seen[2]["payload"]["previous_status"] == "dead"
    assert seen[2]["payload"]["status"] == "healthy"
    assert seen[2]["payload"]["last_heartbeat_at"] == "2026-09-21T14:25:00.000Z"
    # Filtered like any event, and GET /events/{id} shows it.
    dead = alerts(api, keys.viewer, "agent.dead")
    assert [e["event_id"] for e in dead] == [seen[1]["event_id"]]
    shown = api.get(f"/events/{dead[0]['event_id']}", key=keys.viewer)
    assert shown.status == 200
    assert shown.json["status"] == "pending"
    # Counted as received events of the day, next to the heartbeats.
    figures = api.get("/stats", key=keys.viewer).json
    assert figures["events_received"] == 3
    assert figures["heartbeats"] == 2


def test_history_lists_changes_newest_first_with_their_cause(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    time_.at(100)
    run_sweeper()
    time_.at(200)
    assert heartbeat(api, agent).status == 200
    time_.at(900)
    run_sweeper()  # healthy, silent past 20 intervals: straight to dead

    result = history(api, keys.viewer, agent["agent_id"])
    assert result.status == 200
    assert result.json == {
        "items": [
            {"status": "dead", "previous_status": "healthy", "at": "2026-09-21T14:28:20.000Z",
             "cause": "sweeper"},
            {"status": "healthy", "previous_status": "unhealthy",
             "at": "2026-09-21T14:16:40.000Z", "cause": "heartbeat"},
            {"status": "unhealthy", "previous_status": "healthy",
             "at": "2026-09-21T14:15:00.000Z", "cause": "sweeper"},
        ],
        "next_cursor": None,
        "has_more": False,
    }  # fmt: skip


def test_history_pages_with_a_cursor_bound_to_the_agent(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    other = register(api, keys.creator, name="other")
    for step in range(3):  # three unhealthy → healthy round trips: six changes
        time_.at(step * 200 + 100)
        run_sweeper()
        time_.at(step * 200 + 150)
        assert heartbeat(api, agent, timestamp=int(clock.now())).status == 200
    first = history(api, keys.viewer, agent["agent_id"], limit="4")
    assert first.status == 200
    assert len(first.json["items"]) == 4
    assert first.json["has_more"] is True
    second = history(
        api, keys.viewer, agent["agent_id"], limit="4", cursor=first.json["next_cursor"]
    )
    assert len(second.json["items"]) == 2
    assert second.json["has_more"] is False
    everything = first.json["items"] + second.json["items"]
    assert [h["at"] for h in everything] == sorted((h["at"] for h in everything), reverse=True)
    # The cursor belongs to this agent's history and this tenant only.
    reused = history(api, keys.viewer, other["agent_id"], cursor=first.json["next_cursor"])
    assert reused.status == 400
    assert reused.error_code == "invalid_cursor"
    assert history(api, keys.viewer, agent["agent_id"], cursor="junk").status == 400
    assert history(api, keys.viewer, agent["agent_id"], limit="0").status == 400
    assert history(api, keys.viewer, agent["agent_id"], sort="asc").status == 400


def test_history_of_another_tenants_agent_is_unknown(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    time_.at(120)
    run_sweeper()
    foreign = history(api, keys.other_viewer, agent["agent_id"])
    unknown = history(api, keys.viewer, "01J00000000000000000000000.acme")
    malformed = history(api, keys.viewer, "nope")
    assert foreign.status == unknown.status == malformed.status == 404
    assert foreign.json["error"]["message"] == unknown.json["error"]["message"]
    assert history(api, "dk_bad", agent["agent_id"]).status == 401
    assert len(history(api, keys.viewer, agent["agent_id"]).json["items"]) == 1


def test_history_is_kept_90_days(api: ApiClient, keys: Keys, time_: Clock) -> None:
    agent = register(api, keys.creator, heartbeat_interval_seconds=3600)
    time_.at(3 * 3600 + 1)
    run_sweeper()
    assert len(history(api, keys.viewer, agent["agent_id"]).json["items"]) == 1
    time_.at(3 * 3600 + 1 + 90 * 86_400 + 1)
    assert history(api, keys.viewer, agent["agent_id"]).json["items"] == []


def test_overlapping_sweeps_make_one_event_per_change(
    api: ApiClient, keys: Keys, time_: Clock, serialised_transactions: None
) -> None:
    registered = [register(api, keys.creator, name=f"a-{i}") for i in range(6)]
    time_.at(120)
    summaries: list[sweeping.SweepSummary] = []
    start = threading.Barrier(4)

    def sweep_once() -> None:
        start.wait()
        summaries.append(sweeping.sweep())

    threads = [threading.Thread(target=sweep_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(s.marked_unhealthy for s in summaries) == 6
    run_sweeper()  # an EventBridge retry of the same minute
    seen = alerts(api, keys.viewer)
    assert Counter(e["payload"]["agent_id"] for e in seen) == Counter(
        {a["agent_id"]: 1 for a in registered}
    )
    for agent in registered:
        assert len(history(api, keys.viewer, agent["agent_id"]).json["items"]) == 1


def test_a_sweep_that_lost_the_race_writes_no_event(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    time_.at(120)
    # Two sweeps read the same stale agent; both try the change.
    seen_by_first = sweeping.due_agents(layout.shard_of(agent["agent_id"]), int(clock.now() * 1000))
    seen_by_second = [dict(i) for i in seen_by_first]
    first, second = sweeping.SweepSummary(), sweeping.SweepSummary()
    sweeping.transition(seen_by_first[0], "unhealthy", first, clock.now())
    sweeping.transition(seen_by_second[0], "unhealthy", second, clock.now())
    assert (first.marked_unhealthy, second.marked_unhealthy, second.lost_races) == (1, 0, 1)
    assert len(alerts(api, keys.viewer)) == 1


def test_racing_heartbeats_of_a_dead_agent_recover_it_once(
    api: ApiClient, keys: Keys, time_: Clock, serialised_transactions: None
) -> None:
    agent = register(api, keys.creator)
    time_.at(900)
    run_sweeper()
    start = threading.Barrier(4)
    statuses: list[int] = []

    def beat(offset: int) -> None:
        start.wait()
        statuses.append(heartbeat(api, agent, timestamp=int(clock.now()) - offset).status)

    threads = [threading.Thread(target=beat, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 200 in statuses
    assert [e["event_type"] for e in alerts(api, keys.viewer)] == ["agent.dead", "agent.recovered"]


def test_a_heartbeat_of_a_healthy_agent_makes_no_event(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    assert heartbeat(api, agent).status == 200
    assert alerts(api, keys.viewer) == []
    assert history(api, keys.viewer, agent["agent_id"]).json["items"] == []


def test_alerts_stay_in_their_own_tenant(api: ApiClient, keys: Keys, time_: Clock) -> None:
    register(api, keys.creator)
    time_.at(120)
    run_sweeper()
    assert len(alerts(api, keys.viewer)) == 1
    assert alerts(api, keys.other_viewer) == []


# --------------------------------------------------------------------------- deletion


def test_deleting_an_agent_refuses_its_heartbeats_and_frees_its_name(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    assert heartbeat(api, agent).status == 200
    deleted = api.delete(f"/agents/{agent['agent_id']}", key=keys.creator)
    assert deleted.status == 204
    assert deleted.text == ""
    assert api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).status == 404
    assert history(api, keys.viewer, agent["agent_id"]).status == 404
    time_.at(1)
    refused = heartbeat(api, agent)
    assert refused.status == 401
    assert refused.error_code == "unauthorized"
    assert api.delete(f"/agents/{agent['agent_id']}", key=keys.creator).status == 404
    assert api.get("/agents", key=keys.viewer).json["items"] == []

    again = register(api, keys.creator)  # same name, new agent
    assert again["agent_id"] != agent["agent_id"]
    assert heartbeat(api, again).status == 200
    # The deleted agent is gone from the sweeper's index too: nothing to examine.
    time_.at(60)
    assert run_sweeper()["examined"] == 0


def test_delete_is_for_creators_of_the_same_tenant(api: ApiClient, keys: Keys) -> None:
    agent = register(api, keys.creator)
    path = f"/agents/{agent['agent_id']}"
    assert api.delete(path, key=keys.viewer).status == 403
    foreign = api.delete(path, key=keys.other_creator)
    unknown = api.delete("/agents/01J00000000000000000000000.acme", key=keys.creator)
    assert (foreign.status, foreign.json["error"]["message"]) == (
        unknown.status,
        unknown.json["error"]["message"],
    )
    assert foreign.status == 404
    assert api.get(path, key=keys.viewer).status == 200
    assert api.delete(path).status == 401


# --------------------------------------------------------------------------- rotation


def rotate(api: ApiClient, key: str, agent: dict[str, Any]) -> Any:
    return api.post(f"/agents/{agent['agent_id']}/rotate-secret", key=key)


def test_rotation_keeps_the_previous_secret_for_ten_minutes(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    rotated = rotate(api, keys.creator, agent)
    assert rotated.status == 200
    assert set(rotated.json) == {"secret", "previous_valid_until"}
    assert rotated.json["previous_valid_until"] == "2026-09-21T14:23:20.000Z"
    new = {**agent, "secret": rotated.json["secret"]}
    assert new["secret"] != agent["secret"]
    assert (
        rotated.json["secret"] not in api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).text
    )

    time_.at(10)
    assert heartbeat(api, agent).status == 200  # the old secret, within the overlap
    time_.at(20)
    assert heartbeat(api, new).status == 200
    time_.at(599)
    assert heartbeat(api, agent).status == 200
    time_.at(601)
    assert heartbeat(api, agent).status == 401  # the overlap is over
    assert heartbeat(api, new).status == 200


def test_a_second_rotation_ends_the_first_secret_at_once(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    agent = register(api, keys.creator)
    second = {**agent, "secret": rotate(api, keys.creator, agent).json["secret"]}
    time_.at(5)
    third = {**agent, "secret": rotate(api, keys.creator, agent).json["secret"]}
    time_.at(10)
    assert heartbeat(api, agent).status == 401
    assert heartbeat(api, second).status == 200
    time_.at(11)
    assert heartbeat(api, third).status == 200


def test_rotation_is_for_creators_of_the_same_tenant(api: ApiClient, keys: Keys) -> None:
    agent = register(api, keys.creator)
    assert rotate(api, keys.viewer, agent).status == 403
    assert rotate(api, keys.other_creator, agent).status == 404
    assert rotate(api, keys.creator, {"agent_id": "nope"}).status == 404
    assert heartbeat(api, agent).status == 200  # nothing changed


# --------------------------------------------------------------------------- intervals


def test_interval_sets_liveness_and_next_check(api: ApiClient, keys: Keys, time_: Clock) -> None:
    fast = register(api, keys.creator, name="fast", heartbeat_interval_seconds=10)
    slow = register(api, keys.creator, name="slow", heartbeat_interval_seconds=3600)
    default = register(api, keys.creator, name="default")
    assert (fast["heartbeat_interval_seconds"], slow["heartbeat_interval_seconds"]) == (10, 3600)
    assert default["heartbeat_interval_seconds"] == 30
    accepted = heartbeat(api, fast)
    assert accepted.json == {"status": "healthy", "next_check_interval": 10}
    assert heartbeat(api, slow).json["next_check_interval"] == 3600

    def status(agent: dict[str, Any]) -> str:
        return str(api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).json["status"])

    time_.at(30)
    run_sweeper()
    assert (status(fast), status(default)) == ("healthy", "healthy")  # exactly 3 intervals
    time_.at(31)
    run_sweeper()
    assert (status(fast), status(default)) == ("unhealthy", "healthy")
    time_.at(201)
    run_sweeper()
    assert (status(fast), status(default), status(slow)) == ("dead", "unhealthy", "healthy")
    time_.at(3 * 3600 + 1)
    run_sweeper()
    assert (status(default), status(slow)) == ("dead", "unhealthy")
    assert (
        api.get(f"/agents/{slow['agent_id']}", key=keys.viewer).json["heartbeat_interval_seconds"]
        == 3600
    )


@pytest.mark.parametrize("bad", [9, 3601, 0, -5, "30", 30.5, True, [30]])
def test_interval_out_of_range_or_not_an_integer_is_refused(
    api: ApiClient, keys: Keys, bad: Any
) -> None:
    result = api.post(
        "/agents", key=keys.creator, json_body={"name": "x", "heartbeat_interval_seconds": bad}
    )
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert result.json["error"]["details"][0]["field"] == "heartbeat_interval_seconds"


def test_the_sweeper_reads_only_the_agents_that_are_due(
    api: ApiClient, keys: Keys, time_: Clock, aws_calls: Counter[str]
) -> None:
    for i in range(5):
        register(api, keys.creator, name=f"slow-{i}", heartbeat_interval_seconds=3600)
    register(api, keys.creator, name="fast", heartbeat_interval_seconds=10)
    time_.at(31)
    aws_calls.clear()
    summary = run_sweeper()
    assert summary["examined"] == 1
    assert summary["marked_unhealthy"] == 1
    assert aws_calls == Counter(
        {"dynamodb.Query": settings().agent_shards, "dynamodb.TransactWriteItems": 1}
    )


def test_heartbeat_is_checked_before_its_body(api: ApiClient, keys: Keys) -> None:
    agent = register(api, keys.creator)
    body = json.dumps({**FIGURES, "cpu_percent": 500}).encode()
    forged = signed_headers(agent["agent_id"], "0" * 64, body)
    result = api.post(f"/agents/{agent['agent_id']}/heartbeat", body=body, headers=forged)
    assert result.status == 401


def test_a_sweep_that_failed_midway_is_retried_into_one_event_per_change(
    api: ApiClient, keys: Keys, time_: Clock
) -> None:
    from botocore.exceptions import ClientError

    from common.store import aws as clients

    for i in range(3):
        register(api, keys.creator, name=f"a-{i}")
    time_.at(120)
    calls = Counter[str]()

    def second_transaction_fails(**_: Any) -> Any:
        calls["transact"] += 1
        if calls["transact"] != 2:
            return None
        http = type("Http", (), {"status_code": 500, "headers": {}})()
        error = {"Code": "InternalServerError", "Message": "down"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}

    events = clients.dynamodb().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", second_transaction_fails)
    with pytest.raises(ClientError):
        run_sweeper()
    events.unregister("before-call.dynamodb.TransactWriteItems", second_transaction_fails)
    assert len(alerts(api, keys.viewer)) == 1  # the change before the failure stands
    assert run_sweeper()["marked_unhealthy"] == 2  # EventBridge's retry does the rest
    assert len(alerts(api, keys.viewer)) == 3
