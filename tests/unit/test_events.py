"""POST /events, GET /events/{id}, DELETE /events/{id}: contract, tenant isolation,
AWS call counts and injected faults. Dedup and idempotency are in test_events_dedup.py."""

from __future__ import annotations

from collections import Counter
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from common.runtime.config import settings
from common.store import aws, ddb
from common.triggers import events
from common.triggers.inbox import listing, place
from tests.conftest import ApiClient, Keys
from tests.unit.events_support import (  # noqa: F401 - fixtures
    EVENT,
    _events_stored,
    _post,
    _raw_item,
    _today,
    frozen_clock_fixture,
    hour_rate_window,
)

# ------------------------------------------------------------------ create


def test_create_returns_contract_body_and_stores_pending_event(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    result = _post(api, keys.creator, {**EVENT, "source": "shop"})
    assert result.status == 201
    body = result.json
    assert set(body) == {"event_id", "event_type", "source", "received_at", "status", "duplicate"}
    assert body["event_type"] == "order.created"
    assert body["source"] == "shop"
    assert body["received_at"] == "2026-01-01T00:00:00.000Z"
    assert body["status"] == "pending"
    assert body["duplicate"] is False
    stored = _raw_item(f"T#acme#E#{body['event_id']}", "E")
    assert stored is not None
    assert stored["gsi1pk"] == "T#acme#S0"
    assert stored["gsi2pk"] == "T#acme#TY#order.created#S0"
    assert _today("acme")["events_received"] == 1


def test_new_event_is_one_dynamodb_round_trip(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    _post(api, keys.creator, {"event_type": "warm", "payload": {}})  # auth + lease warm-up
    aws_calls.clear()
    result = _post(api, keys.creator)
    assert result.status == 201
    assert aws_calls == Counter({"dynamodb.TransactWriteItems": 1})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {}}, "event_type"),
        ({"event_type": "", "payload": {}}, "event_type"),
        ({"event_type": "x" * 256, "payload": {}}, "event_type"),
        ({"event_type": 5, "payload": {}}, "event_type"),
        ({"event_type": "a"}, "payload"),
        ({"event_type": "a", "payload": [1]}, "payload"),
        ({"event_type": "a", "payload": "text"}, "payload"),
        ({"event_type": "a", "payload": {}, "source": "s" * 256}, "source"),
        ({"event_type": "a", "payload": {}, "occurred_at": "yesterday"}, "occurred_at"),
        ({"event_type": "a", "payload": {}, "occurred_at": "2024-01-01T00:00:00"}, "occurred_at"),
        ({"event_type": "a", "payload": {}, "occurred_at": "2024-13-01T00:00:00Z"}, "occurred_at"),
        ({"event_type": "a", "payload": {}, "status": "delivered"}, "status"),
    ],
)
def test_invalid_bodies_are_validation_errors(
    api: ApiClient, keys: Keys, body: dict[str, Any], field: str
) -> None:
    result = _post(api, keys.creator, body)
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert [d["field"] for d in result.json["error"]["details"]] == [field]


def test_occurred_at_is_normalised_to_utc_milliseconds(api: ApiClient, keys: Keys) -> None:
    created = _post(api, keys.creator, {**EVENT, "occurred_at": "2024-05-01T14:00:00.5+02:00"})
    read = api.get(f"/events/{created.json['event_id']}", key=keys.viewer)
    assert read.json["occurred_at"] == "2024-05-01T12:00:00.500Z"


def test_bad_json_and_media_type(api: ApiClient, keys: Keys) -> None:
    bad = api.post(
        "/events", key=keys.creator, body="{", headers={"content-type": "application/json"}
    )
    assert (bad.status, bad.error_code) == (400, "invalid_json")
    text = api.post("/events", key=keys.creator, body="x", headers={"content-type": "text/plain"})
    assert (text.status, text.error_code) == (415, "unsupported_media_type")
    big = {"event_type": "a", "payload": {"x": "y" * (256 * 1024)}}
    assert _post(api, keys.creator, big).status == 413


def test_auth_and_roles_on_every_route(api: ApiClient, keys: Keys) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    assert _post(api, keys.viewer).error_code == "forbidden"
    assert api.delete(f"/events/{event_id}", key=keys.viewer).status == 403
    assert api.get(f"/events/{event_id}", key=keys.viewer).status == 200
    for call in (
        lambda: api.post("/events", json_body=EVENT),
        lambda: api.get(f"/events/{event_id}"),
        lambda: api.delete(f"/events/{event_id}"),
    ):
        assert call().status == 401


# ------------------------------------------------------------------ read


def test_get_event_returns_full_record(api: ApiClient, keys: Keys) -> None:
    created = _post(api, keys.creator, {**EVENT, "payload": {"text": "héllo 🚀", "n": 1.5}})
    result = api.get(f"/events/{created.json['event_id']}", key=keys.viewer)
    assert result.status == 200
    assert result.json == {
        "event_id": created.json["event_id"],
        "event_type": "order.created",
        "payload": {"text": "héllo 🚀", "n": 1.5},
        "source": None,
        "occurred_at": None,
        "received_at": created.json["received_at"],
        "status": "pending",
        "delivered_at": None,
    }


def test_unknown_malformed_and_foreign_ids_answer_alike(api: ApiClient, keys: Keys) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    answers = [
        api.get(f"/events/{unknown}", key=keys.viewer),
        api.get("/events/not-an-id", key=keys.viewer),
        api.get(f"/events/{event_id}", key=keys.other_viewer),
        api.delete(f"/events/{unknown}", key=keys.creator),
        api.delete(f"/events/{event_id}", key=keys.other_creator),
    ]
    assert {(a.status, a.error_code, a.json["error"]["message"]) for a in answers} == {
        (404, "not_found", "No such event.")
    }
    # The other tenant's delete changed nothing.
    assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "pending"


# ------------------------------------------------------------------ acknowledge


def test_delete_acknowledges_once_and_is_idempotent(
    api: ApiClient, keys: Keys, aws_calls: Counter[str], frozen_clock: list[float]
) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    aws_calls.clear()
    first = api.delete(f"/events/{event_id}", key=keys.creator)
    assert (first.status, first.text) == (204, "")
    assert aws_calls == Counter({"dynamodb.TransactWriteItems": 1})
    assert api.delete(f"/events/{event_id}", key=keys.creator).status == 204
    read = api.get(f"/events/{event_id}", key=keys.viewer).json
    assert read["status"] == "delivered"
    assert read["delivered_at"] == "2026-01-01T00:00:00.000Z"
    stored = _raw_item(f"T#acme#E#{event_id}", "E")
    assert stored is not None
    assert not {"gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} & set(stored)
    assert stored["expires_at"] == int(frozen_clock[0]) + 7 * 86_400
    assert _today("acme")["events_delivered"] == 1  # not 2
    assert listing.summary(place.inbox("acme")) == (0, None)


def test_delivered_events_vanish_after_retention(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    api.delete(f"/events/{event_id}", key=keys.creator)
    frozen_clock[0] += 7 * 86_400 + 1  # TTL has not deleted it: reads must not show it
    assert api.get(f"/events/{event_id}", key=keys.viewer).status == 404
    assert api.delete(f"/events/{event_id}", key=keys.creator).status == 404
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": [event_id]})
    assert ack.json == {"acknowledged": [], "lease_lost": [], "not_found": [event_id]}


def test_inbox_summary_counts_pending_and_oldest(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    assert listing.summary(place.inbox("acme")) == (0, None)
    first = _post(api, keys.creator, {"event_type": "a", "payload": {"n": 1}}).json
    frozen_clock[0] += 10
    second = _post(api, keys.creator, {"event_type": "a", "payload": {"n": 2}}).json
    _post(api, keys.other_creator, {"event_type": "a", "payload": {"n": 3}})
    assert listing.summary(place.inbox("acme")) == (2, first["received_at"])
    api.delete(f"/events/{first['event_id']}", key=keys.creator)
    assert listing.summary(place.inbox("acme")) == (1, second["received_at"])
    assert listing.summary(place.inbox("globex"))[0] == 1


# ------------------------------------------------------------------ faults


def _cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def test_throttled_create_is_503_and_writes_nothing(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    _post(api, keys.creator, {"event_type": "warm", "payload": {}})
    client = aws.dynamodb()
    with mock.patch.object(
        client, "transact_write_items", side_effect=_cancelled("None", "ThrottlingError")
    ):
        result = _post(api, keys.creator)
    assert (result.status, result.error_code) == (503, "service_unavailable")
    assert result.headers["Retry-After"] == "1"
    assert "Throttling" not in result.text
    assert _events_stored("acme") == 1  # the warm-up event only
    fingerprint = events.dedup.content_fingerprint(EVENT["event_type"], EVENT["payload"], None)
    assert _raw_item(f"T#acme#D#{fingerprint}", "D") is None
    # The client's retry then succeeds as a new event.
    assert _post(api, keys.creator).status == 201


def test_unavailable_dynamodb_is_503(api: ApiClient, keys: Keys) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    error = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "GetItem",
    )
    with mock.patch.object(aws.dynamodb(), "get_item", side_effect=error):
        result = api.get(f"/events/{event_id}", key=keys.viewer)
    assert (result.status, result.error_code) == (503, "service_unavailable")
    assert "slow down" not in result.text


def test_failed_ack_leaves_event_pending_in_inbox(api: ApiClient, keys: Keys) -> None:
    event_id = _post(api, keys.creator).json["event_id"]
    with mock.patch.object(
        aws.dynamodb(),
        "transact_write_items",
        side_effect=_cancelled("ThrottlingError", "None", "None"),
    ):
        result = api.delete(f"/events/{event_id}", key=keys.creator)
    assert result.status == 503
    assert api.get(f"/events/{event_id}", key=keys.viewer).json["status"] == "pending"
    inbox = api.get("/inbox", key=keys.viewer).json
    assert [item["event_id"] for item in inbox["items"]] == [event_id]
    assert listing.summary(place.inbox("acme"))[0] == 1


def test_transaction_conflict_is_retried(api: ApiClient, keys: Keys) -> None:
    client = aws.dynamodb()
    real = client.transact_write_items
    calls = {"n": 0}

    def conflict_once(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise _cancelled("None", "TransactionConflict", "None", "None")
        return real(**kwargs)

    _post(api, keys.creator, {"event_type": "warm", "payload": {}})
    calls["n"] = 0
    with mock.patch.object(client, "transact_write_items", side_effect=conflict_once):
        result = _post(api, keys.creator)
    assert result.status == 201
    assert calls["n"] == 2


def test_system_event_ops_publish_a_pending_event_in_the_callers_transaction(
    aws: None, api: Any, keys: Any
) -> None:
    from common.runtime import clock
    from common.store import transact
    from common.triggers import events

    event_id, ops = events.system_event_ops(
        "acme", "agent.dead", "dockhand.agents", {"agent_id": "a1"}, clock.now()
    )
    assert transact.run(ops) is None
    stored = events.get_event("acme", event_id)
    assert stored["event_type"] == "agent.dead"
    assert stored["source"] == "dockhand.agents"
    assert stored["payload"] == {"agent_id": "a1"}
    assert stored["status"] == "pending"
    inbox = api.get("/inbox", key=keys.creator).json
    assert [item["event_id"] for item in inbox["items"]] == [event_id]
    assert api.get("/inbox", key=keys.other_creator).json["items"] == []


def test_idempotency_records_that_stored_a_status_still_replay(api: ApiClient, keys: Keys) -> None:
    """Records written before the answer's kind was stored kept its HTTP status."""
    headers = {"Idempotency-Key": "legacy-1"}
    first = _post(api, keys.creator, headers=headers)
    pk = events.dedup.idempotency_pk("acme", "legacy-1")
    aws.dynamodb().update_item(
        TableName=settings().events_table,
        Key=ddb.serialize({"pk": pk, "sk": "I"}),
        UpdateExpression="SET response_status = :s REMOVE response_kind",
        ExpressionAttributeValues={":s": ddb.value(201)},
    )
    again = _post(api, keys.creator, headers=headers)
    assert (again.status, again.json["event_id"]) == (201, first.json["event_id"])
    assert again.json["duplicate"] is True
