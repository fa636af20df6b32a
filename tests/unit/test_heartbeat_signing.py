"""Signed heartbeats: every refusal is the same 401, an accepted one is one round trip."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from common.agents import registry as agents
from common.runtime import clock
from common.store import counters
from tests.conftest import ApiClient, Keys, Result
from tests.unit.agents_support import FIGURES, heartbeat, register, signed_headers

NOW = 1_790_000_000  # 2026-09-21T14:13:20Z
DAY = "2026-09-21"


@pytest.fixture
def frozen(aws: None) -> None:
    clock.set_clock(lambda: float(NOW))


@pytest.fixture
def agent(api: ApiClient, keys: Keys, frozen: None) -> dict[str, Any]:
    return register(api, keys.creator)


def refusal(result: Result) -> dict[str, Any]:
    """The error body without its request id: must be identical for every refusal."""
    assert result.status == 401, result.text
    error = dict(result.json["error"])
    del error["request_id"]
    return error


UNAUTHORIZED = {"code": "unauthorized", "message": "Missing or invalid credentials.", "details": []}


def test_signed_heartbeat_is_accepted_and_recorded(
    api: ApiClient, keys: Keys, agent: dict[str, Any]
) -> None:
    result = heartbeat(api, agent)
    assert result.status == 200, result.text
    assert result.json == {"status": "healthy", "next_check_interval": 30}
    shown = api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).json
    assert shown["status"] == "healthy"
    assert shown["last_heartbeat_at"] == "2026-09-21T14:13:20.000Z"
    assert shown["last_heartbeat"] == FIGURES
    assert counters.read_day("acme", DAY) == {"heartbeats": 1}


def test_accepted_heartbeat_is_a_read_and_one_transaction(
    api: ApiClient, agent: dict[str, Any], aws_calls: Counter[str]
) -> None:
    # The read: the agent's secret generation, interval and status live on its item.
    aws_calls.clear()
    assert heartbeat(api, agent).status == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1})


def test_bad_signature_costs_one_read_and_no_write(
    api: ApiClient, agent: dict[str, Any], aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    forged = {**agent, "secret": "0" * 64}
    assert refusal(heartbeat(api, forged)) == UNAUTHORIZED
    assert aws_calls == Counter({"dynamodb.GetItem": 1})


def test_stale_timestamp_costs_no_dynamodb_call(
    api: ApiClient, agent: dict[str, Any], aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    stale = heartbeat(api, agent, timestamp=int(NOW) - 301)
    assert refusal(stale) == UNAUTHORIZED
    assert sum(aws_calls.values()) == 0


def _signed_for(agent: dict[str, Any], body: bytes, **kwargs: Any) -> dict[str, str]:
    return signed_headers(agent["agent_id"], agent["secret"], body, **kwargs)


Headers = dict[str, str]
BODY = json.dumps(FIGURES).encode()


def _replace(headers: Headers, name: str, value: str) -> Headers:
    return {**headers, name: value}


def _without(headers: Headers, name: str) -> Headers:
    return {k: v for k, v in headers.items() if k != name}


# Each case: how to spoil a correctly signed request → (headers, body actually sent).
SPOILERS: dict[str, Any] = {
    "wrong_secret": lambda a, h: (signed_headers(a["agent_id"], "e" * 64, BODY), BODY),
    "wrong_path": lambda a, h: (_signed_for(a, BODY, path="/agents/x/heartbeat"), BODY),
    "wrong_method": lambda a, h: (_signed_for(a, BODY, method="PUT"), BODY),
    "body_tampered": lambda a, h: (h, json.dumps({**FIGURES, "cpu_percent": 99}).encode()),
    "too_old": lambda a, h: (_signed_for(a, BODY, timestamp=NOW - 301), BODY),
    "too_far_in_future": lambda a, h: (_signed_for(a, BODY, timestamp=NOW + 301), BODY),
    "missing_timestamp": lambda a, h: (_without(h, "x-agent-timestamp"), BODY),
    "missing_signature": lambda a, h: (_without(h, "x-agent-signature"), BODY),
    "malformed_timestamp": lambda a, h: (_replace(h, "x-agent-timestamp", "yesterday"), BODY),
    "fractional_timestamp": lambda a, h: (_replace(h, "x-agent-timestamp", f"{NOW}.5"), BODY),
    "unknown_version": lambda a, h: (
        _replace(h, "x-agent-signature", h["x-agent-signature"].replace("v1=", "v2=")),
        BODY,
    ),
    "short_signature": lambda a, h: (
        _replace(h, "x-agent-signature", h["x-agent-signature"][:-2]),
        BODY,
    ),
    "non_hex_signature": lambda a, h: (_replace(h, "x-agent-signature", "v1=" + "z" * 64), BODY),
}


@pytest.mark.parametrize("case", sorted(SPOILERS))
def test_every_refusal_is_the_same_401(api: ApiClient, agent: dict[str, Any], case: str) -> None:
    headers, sent = SPOILERS[case](agent, _signed_for(agent, BODY))
    result = api.post(agents.heartbeat_path(agent["agent_id"]), body=sent, headers=headers)
    assert refusal(result) == UNAUTHORIZED
    # The same request, unspoiled, is accepted: the spoiling is what was refused.
    assert heartbeat(api, agent).status == 200


def test_timestamps_within_five_minutes_either_way_are_accepted(
    api: ApiClient, agent: dict[str, Any]
) -> None:
    assert heartbeat(api, agent, timestamp=NOW - 300).status == 200
    assert heartbeat(api, agent, timestamp=NOW + 300).status == 200


def test_replayed_or_older_heartbeat_is_refused(api: ApiClient, agent: dict[str, Any]) -> None:
    assert heartbeat(api, agent, timestamp=NOW).status == 200
    assert refusal(heartbeat(api, agent, timestamp=NOW)) == UNAUTHORIZED
    assert refusal(heartbeat(api, agent, timestamp=NOW - 1)) == UNAUTHORIZED
    assert heartbeat(api, agent, timestamp=NOW + 1).status == 200
    assert counters.read_day("acme", DAY) == {"heartbeats": 2}


def test_unknown_agent_is_refused_even_when_correctly_signed(api: ApiClient, frozen: None) -> None:
    # Only the server can derive this secret: the id is well formed but never registered.
    ghost_id = agents.new_agent_id("acme")
    ghost = {"agent_id": ghost_id, "secret": agents.agent_secret(ghost_id)}
    assert refusal(heartbeat(api, ghost)) == UNAUTHORIZED


def test_malformed_agent_id_is_refused(api: ApiClient, frozen: None) -> None:
    for agent_id in ("nope", "01J0000000000000000000000X.acme", "0" * 26 + ".Bad Tenant"):
        fake = {"agent_id": agent_id, "secret": agents.agent_secret(agent_id)}
        assert refusal(heartbeat(api, fake)) == UNAUTHORIZED


def test_another_tenants_agent_cannot_be_claimed(api: ApiClient, keys: Keys, frozen: None) -> None:
    theirs = register(api, keys.other_creator, name="builder-1")
    ulid = theirs["agent_id"].split(".", 1)[0]
    # The same ULID under another tenant is another agent id, whose secret differs.
    claimed = {"agent_id": f"{ulid}.acme", "secret": theirs["secret"]}
    assert refusal(heartbeat(api, claimed)) == UNAUTHORIZED
    assert (
        api.get(f"/agents/{theirs['agent_id']}", key=keys.other_viewer).json["last_heartbeat_at"]
        is None
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cpu_percent": 100.5}, "cpu_percent"),
        ({"memory_percent": -1}, "memory_percent"),
        ({"disk_percent": "50"}, "disk_percent"),
        ({"jobs_queued": 1.5}, "jobs_queued"),
        ({"jobs_completed": -3}, "jobs_completed"),
        ({"uptime_seconds": True}, "uptime_seconds"),
        ({"version": 7}, "version"),
        ({"hostname": "x"}, "hostname"),
    ],
)
def test_signed_but_invalid_body_is_a_validation_error(
    api: ApiClient, agent: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    result = heartbeat(api, agent, figures={**FIGURES, **change})
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert [d["field"] for d in result.json["error"]["details"]] == [field]


def test_missing_figure_is_a_validation_error(api: ApiClient, agent: dict[str, Any]) -> None:
    figures = {k: v for k, v in FIGURES.items() if k != "jobs_queued"}
    assert heartbeat(api, agent, figures=figures).error_code == "validation_error"


def test_unsigned_invalid_body_says_only_unauthorized(
    api: ApiClient, agent: dict[str, Any]
) -> None:
    forged = {**agent, "secret": "f" * 64}
    assert refusal(heartbeat(api, forged, figures={"hostname": "x"})) == UNAUTHORIZED


@pytest.fixture
def serializable_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB runs a transaction atomically; moto's in-memory one does not across
    threads (check-then-write with no lock), so give it the atomicity DynamoDB has.
    The race under test is then ours: without the replay condition both are stored."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def atomic(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", atomic)


@pytest.mark.usefixtures("serializable_transactions")
def test_two_identical_heartbeats_racing_store_one(api: ApiClient, agent: dict[str, Any]) -> None:
    body = json.dumps(FIGURES).encode()
    headers = _signed_for(agent, body, timestamp=NOW)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        result = api.post(agents.heartbeat_path(agent["agent_id"]), body=body, headers=headers)
        statuses.append(result.status)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401]
    assert counters.read_day("acme", DAY) == {"heartbeats": 1}


def test_signature_and_secret_never_reach_the_logs(
    api: ApiClient, agent: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(FIGURES).encode()
    good = _signed_for(agent, body)
    bad = signed_headers(agent["agent_id"], "9" * 64, body)
    api.post(agents.heartbeat_path(agent["agent_id"]), body=body, headers=bad)
    api.post(agents.heartbeat_path(agent["agent_id"]), body=body, headers=good)
    api.post(agents.heartbeat_path(agent["agent_id"]), body=body, headers=good)  # replay
    logged = "\n".join(repr(record.__dict__) for record in caplog.records)
    assert [r.msg for r in caplog.records].count("heartbeat refused") == 2
    for secret in (agent["secret"], good["x-agent-signature"][3:], bad["x-agent-signature"][3:]):
        assert secret not in logged


def test_throttled_write_answers_503_and_records_nothing(
    api: ApiClient, agent: dict[str, Any]
) -> None:
    from common.store import aws as clients

    def throttle(**_: Any) -> tuple[Any, dict[str, Any]]:
        http = type("Http", (), {"status_code": 400, "headers": {}})()
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    events = clients.dynamodb().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", throttle)
    try:
        result = heartbeat(api, agent)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", throttle)
    assert result.status == 503
    assert result.headers["Retry-After"] == "1"
    assert "slow down" not in result.text
    assert counters.read_day("acme", DAY) is None
