"""Triggers over real HTTP through the local gateway: create, duplicate, idempotent
replay, read, inbox, ack, and isolation between tenants (the docs/triggers.md walk-through)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e


def test_trigger_walk_through(gateway: Gateway) -> None:
    tenant = f"triggers-{uuid.uuid4().hex[:8]}"
    creator = gateway.create_key(tenant, "creator")
    viewer = gateway.create_key(tenant, "viewer")
    outsider = gateway.create_key(f"{tenant}-other", "creator")
    event = {"event_type": "order.created", "payload": {"order": 42, "note": "café 🚀"}}

    created = gateway.http("POST", "/events", creator, event)
    assert created.status == 201, created.body
    event_id = created.json["event_id"]
    assert created.json["duplicate"] is False
    assert created.headers["x-request-id"]

    duplicate = gateway.http(
        "POST", "/events", creator, {**event, "payload": {"note": "café 🚀", "order": 42}}
    )
    assert (duplicate.status, duplicate.json["event_id"]) == (200, event_id)
    assert duplicate.json["duplicate"] is True

    keyed = {"event_type": "order.paid", "payload": {"order": 42}}
    headers = {"Idempotency-Key": "pay-42"}
    first = gateway.http("POST", "/events", creator, keyed, headers=headers)
    replay = gateway.http("POST", "/events", creator, keyed, headers=headers)
    assert first.status == replay.status == 201
    assert replay.json == {**first.json, "duplicate": True}
    conflict = gateway.http("POST", "/events", creator, {**keyed, "source": "x"}, headers=headers)
    assert (conflict.status, conflict.error_code) == (409, "conflict")

    read = gateway.http("GET", f"/events/{event_id}", viewer)
    assert read.status == 200
    assert read.json["payload"] == event["payload"]
    assert read.json["status"] == "pending"
    assert gateway.http("GET", f"/events/{event_id}", outsider).status == 404

    inbox = gateway.http("GET", "/inbox?limit=1", viewer)
    assert [item["event_id"] for item in inbox.json["items"]] == [event_id]
    assert inbox.json["has_more"] is True
    stolen = gateway.http("GET", f"/inbox?cursor={inbox.json['next_cursor']}", outsider)
    assert (stolen.status, stolen.error_code) == (400, "invalid_cursor")
    assert gateway.http("GET", "/inbox", outsider).json["items"] == []

    assert gateway.http("POST", "/events", viewer, event).status == 403
    other = gateway.http("POST", "/inbox/ack", outsider, {"event_ids": [event_id]})
    assert other.json == {"acknowledged": [], "lease_lost": [], "not_found": [event_id]}

    assert gateway.http("DELETE", f"/events/{event_id}", creator).status == 204
    assert gateway.http("DELETE", f"/events/{event_id}", creator).status == 204
    ack = gateway.http("POST", "/inbox/ack", creator, {"event_ids": [first.json["event_id"]]})
    assert ack.json == {
        "acknowledged": [first.json["event_id"]],
        "lease_lost": [],
        "not_found": [],
    }
    empty = gateway.http("GET", "/inbox", viewer)
    assert empty.json == {"items": [], "next_cursor": None, "has_more": False}
    assert gateway.http("GET", f"/events/{event_id}", viewer).json["status"] == "delivered"
    assert gateway.http("GET", "/inbox").status == 401
