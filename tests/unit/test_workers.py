"""Agents as workers: signed lease, ack and release; job outcome events; replay rules."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from common.agents import signing
from common.runtime import clock
from common.runtime.config import settings
from common.store import counters
from tests.conftest import ApiClient, Keys
from tests.unit import leases_support
from tests.unit.agents_support import FIGURES, heartbeat, register
from tests.unit.workers_support import create_events, signed_call

START = 1_790_000_000.0  # 2026-09-21T14:13:20Z
DAY = "2026-09-21"


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    leases_support.generous_rate_limit(monkeypatch)


@pytest.fixture
def moment(aws: None) -> Iterator[list[float]]:
    """Each clock read is a millisecond later: every signed call has its own timestamp."""
    yield from leases_support.moving_clock(START)


@pytest.fixture
def agent(api: ApiClient, keys: Keys, moment: list[float]) -> dict[str, Any]:
    return register(api, keys.creator, name="worker-1")


def _inbox_types(api: ApiClient, key: str) -> list[str]:
    items = api.get("/inbox", key=key, query={"limit": "200"}).json["items"]
    return [str(i["event_type"]) for i in items]


# ---------------------------------------------------------------- lease, ack, release


def test_agent_leases_and_acks_with_outcome_one_job_event(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    made = create_events(api, keys.creator, 2)
    leased = signed_call(api, agent, "lease", {"limit": 5, "lease_seconds": 60})
    assert leased.status == 200, leased.text
    assert [i["event_id"] for i in leased.json["items"]] == made
    assert all(i["attempts"] == 1 for i in leased.json["items"])
    body = {
        "lease_id": leased.json["lease_id"],
        "outcome": "succeeded",
        "result": {"exit_code": 0, "output": "ok"},
    }
    acked = signed_call(api, agent, "ack", body)
    assert acked.status == 200, acked.text
    assert acked.json == {"acknowledged": made, "lease_lost": [], "not_found": []}
    # A retried ack (a new signature) acknowledges again but writes no second outcome.
    again = signed_call(api, agent, "ack", body)
    assert again.json["acknowledged"] == made
    pending = api.get("/inbox", key=keys.viewer, query={"event_type": "job.succeeded"}).json
    jobs = pending["items"]
    assert len(jobs) == 2
    assert {j["payload"]["event_id"] for j in jobs} == set(made)
    first = next(j for j in jobs if j["payload"]["event_id"] == made[0])
    assert first["source"] == "dockhand.agents"
    assert first["payload"] == {
        "event_id": made[0],
        "event_type": "build.requested",
        "queue": "inbox",
        "agent_id": agent["agent_id"],
        "name": "worker-1",
        "attempts": 1,
        "result": {"exit_code": 0, "output": "ok"},
    }
    figures = counters.read_day("acme", DAY) or {}
    assert figures["jobs_succeeded"] == 2
    assert "jobs_failed" not in figures
    stats = api.get("/stats", key=keys.viewer, query={"day": DAY}).json
    assert stats["jobs_succeeded"] == 2
    assert stats["jobs_failed"] == 0


def test_failed_outcome_and_ack_without_outcome(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    made = create_events(api, keys.creator, 2)
    lease_id = signed_call(api, agent, "lease", {"limit": 2}).json["lease_id"]
    body = {"lease_id": lease_id, "event_ids": [made[0]], "outcome": "failed"}
    assert signed_call(api, agent, "ack", body).json["acknowledged"] == [made[0]]
    assert signed_call(api, agent, "ack", {"lease_id": lease_id}).json["acknowledged"] == made
    types = _inbox_types(api, keys.viewer)
    assert types.count("job.failed") == 1
    assert "job.succeeded" not in types
    job = api.get("/inbox", key=keys.viewer, query={"event_type": "job.failed"}).json["items"][0]
    assert job["payload"]["result"] is None
    assert (counters.read_day("acme", DAY) or {})["jobs_failed"] == 1


def test_release_gives_work_back_with_attempts_counted(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    made = create_events(api, keys.creator, 1)
    lease_id = signed_call(api, agent, "lease", {}).json["lease_id"]
    released = signed_call(api, agent, "release", {"lease_id": lease_id})
    assert released.status == 200, released.text
    assert released.json == {"released": made, "not_found": []}
    again = signed_call(api, agent, "lease", {}).json["items"]
    assert [(i["event_id"], i["attempts"]) for i in again] == [(made[0], 2)]


def test_outcome_result_is_at_most_16_kib_and_bodies_are_checked(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    create_events(api, keys.creator, 1)
    lease_id = signed_call(api, agent, "lease", {}).json["lease_id"]
    big = {"lease_id": lease_id, "outcome": "succeeded", "result": {"output": "x" * 17_000}}
    refused = signed_call(api, agent, "ack", big)
    assert refused.status == 400
    assert refused.error_code == "validation_error"
    assert refused.json["error"]["details"][0]["field"] == "result"
    wrong = signed_call(api, agent, "ack", {"lease_id": lease_id, "outcome": "done"})
    assert wrong.status == 400
    unknown = signed_call(api, agent, "lease", {"limit": 1, "api_key": "x"})
    assert unknown.status == 400
    assert signed_call(api, agent, "lease", {"queue": "nope"}).status == 404
    # Nothing was acknowledged by the refused calls.
    ok = signed_call(api, agent, "ack", {"lease_id": lease_id, "outcome": "succeeded"})
    assert len(ok.json["acknowledged"]) == 1


def test_another_tenants_lease_id_is_not_found(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    create_events(api, keys.other_creator, 1)
    theirs = api.post("/inbox/lease", key=keys.other_creator, json_body={}).json["lease_id"]
    result = signed_call(api, agent, "ack", {"lease_id": theirs, "outcome": "succeeded"})
    assert result.status == 404
    assert "job.succeeded" not in _inbox_types(api, keys.other_viewer)


# ---------------------------------------------------------------- authentication


def test_replayed_signature_is_refused_but_parallel_signatures_are_not(
    api: ApiClient, keys: Keys, agent: dict[str, Any], moment: list[float]
) -> None:
    create_events(api, keys.creator, 2)
    stamp = f"{START + 1:.3f}"
    first = signed_call(api, agent, "lease", {"limit": 1}, stamp=stamp)
    assert first.status == 200
    # The same timestamp with another body is another signature: accepted (a worker's
    # calls may share a millisecond with each other and with its heartbeats).
    other = signed_call(api, agent, "lease", {"limit": 1, "lease_seconds": 30}, stamp=stamp)
    assert other.status == 200
    replay = signed_call(api, agent, "lease", {"limit": 1}, stamp=stamp)
    assert replay.status == 401
    assert replay.error_code == "unauthorized"
    # Older timestamps than the last heartbeat are fine for worker calls.
    assert heartbeat(api, agent).status == 200
    older = signed_call(api, agent, "lease", {"limit": 2}, stamp=f"{START - 100:.3f}")
    assert older.status == 200


def test_replay_after_the_window_is_refused_by_the_clock(
    api: ApiClient, agent: dict[str, Any], moment: list[float]
) -> None:
    stamp = f"{moment[0]:.3f}"
    assert signed_call(api, agent, "lease", {}, stamp=stamp).status == 200
    moment[0] += signing.TIMESTAMP_TOLERANCE_SECONDS + 5
    # The digest's TTL has passed (TTL deletes lazily), but the timestamp is out of window.
    assert signed_call(api, agent, "lease", {}, stamp=stamp).status == 401


def test_worker_call_is_one_read_one_guard_put_before_the_work(
    api: ApiClient, agent: dict[str, Any], aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    assert signed_call(api, agent, "lease", {}).status == 200
    # Agent GetItem, the signature's PutItem, then the lease's Query per inbox shard.
    assert aws_calls["dynamodb.GetItem"] == 1
    assert aws_calls["dynamodb.PutItem"] == 1
    aws_calls.clear()
    bad = signed_call(api, agent, "lease", {}, headers={"x-agent-signature": "v1=" + "0" * 64})
    assert bad.status == 401
    assert aws_calls["dynamodb.PutItem"] == 0  # an unsigned caller writes nothing


@pytest.mark.parametrize("action", ["lease", "ack", "release"])
def test_dead_and_deleted_agents_are_refused(
    api: ApiClient, keys: Keys, agent: dict[str, Any], action: str
) -> None:
    from common.agents import layout
    from common.store import dynamo

    body: dict[str, Any] = {} if action == "lease" else {"lease_id": "x"}
    dynamo.update(
        settings().agents_table,
        layout.agent_key("acme", agent["agent_id"]),
        "SET #s = :dead",
        names={"#s": "status"},
        values={":dead": "dead"},
    )
    assert signed_call(api, agent, action, body).status == 401
    assert api.delete(f"/agents/{agent['agent_id']}", key=keys.creator).status == 204
    assert signed_call(api, agent, action, body).status == 401


def test_signature_covers_the_action_path(api: ApiClient, agent: dict[str, Any]) -> None:
    raw = json.dumps({}).encode()
    stamp = f"{clock.now():.3f}"
    lease_path = signing.signed_path(agent["agent_id"], "lease")
    signature = signing.sign(
        agent["secret"], stamp, "POST", signing.heartbeat_path(agent["agent_id"]), raw
    )
    headers = {
        "content-type": "application/json",
        "x-agent-timestamp": stamp,
        "x-agent-signature": signature,
    }
    assert api.post(lease_path, body=raw, headers=headers).status == 401


# ---------------------------------------------------------------- millisecond timestamps


@pytest.mark.parametrize("stamp_of", [lambda t: f"{t:.3f}", lambda t: f"{t:.1f}", str])
def test_heartbeats_take_millisecond_timestamps(
    api: ApiClient, agent: dict[str, Any], moment: list[float], stamp_of: Any
) -> None:
    from tests.unit.agents_support import signed_headers

    body = json.dumps(FIGURES).encode()
    path = signing.heartbeat_path(agent["agent_id"])
    stamp = stamp_of(int(moment[0]) + 0.25 if stamp_of is not str else int(moment[0]))
    headers = signed_headers(agent["agent_id"], agent["secret"], body)
    headers["x-agent-timestamp"] = stamp
    headers["x-agent-signature"] = signing.sign(agent["secret"], stamp, "POST", path, body)
    assert api.post(path, body=body, headers=headers).status == 200
    assert api.post(path, body=body, headers=headers).status == 401  # not newer: replay


def test_two_heartbeats_in_one_second_are_both_accepted(
    api: ApiClient, agent: dict[str, Any], moment: list[float]
) -> None:
    from tests.unit.agents_support import signed_headers

    body = json.dumps(FIGURES).encode()
    path = signing.heartbeat_path(agent["agent_id"])
    second = int(moment[0]) + 1
    for stamp in (f"{second}.100", f"{second}.200"):
        headers = signed_headers(agent["agent_id"], agent["secret"], body)
        headers["x-agent-timestamp"] = stamp
        headers["x-agent-signature"] = signing.sign(agent["secret"], stamp, "POST", path, body)
        assert api.post(path, body=body, headers=headers).status == 200
    # A whole second not newer than .200 of the same second: refused.
    stamp = str(second)
    headers = signed_headers(agent["agent_id"], agent["secret"], body)
    headers["x-agent-timestamp"] = stamp
    headers["x-agent-signature"] = signing.sign(agent["secret"], stamp, "POST", path, body)
    assert api.post(path, body=body, headers=headers).status == 401


@pytest.mark.parametrize("stamp", ["1790000000.", "1790000000.1234", "1.79e9", "-1790000000"])
def test_malformed_timestamps_are_refused(
    api: ApiClient, agent: dict[str, Any], stamp: str
) -> None:
    assert signed_call(api, agent, "lease", {}, stamp=stamp).status == 401


def test_old_seconds_only_last_timestamp_still_guards_replays() -> None:
    from common.agents.heartbeats import last_accepted_ms

    assert last_accepted_ms({"last_ts": 1_790_000_000}) == 1_790_000_000_000
    assert last_accepted_ms({"last_ts": 5, "last_ts_ms": 7}) == 7
    assert signing.timestamp_ms("1790000000.5") == 1_790_000_000_500
    assert signing.timestamp_ms("1790000000.05") == 1_790_000_000_050


def test_a_result_without_an_outcome_is_refused(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    create_events(api, keys.creator, 1)
    lease_id = signed_call(api, agent, "lease", {}).json["lease_id"]
    refused = signed_call(api, agent, "ack", {"lease_id": lease_id, "result": {"x": 1}})
    assert refused.status == 400
    assert refused.error_code == "validation_error"
    assert signed_call(api, agent, "ack", {"lease_id": lease_id}).json["acknowledged"]
