"""Leased consumption: tenant isolation, roles and validation of every field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, Keys
from tests.unit.leases_support import (  # noqa: F401 - fixtures
    _ids,
    _inbox,
    create_event,
    lease_inbox,
    lifted_rate_limit,
    moment_fixture,
)

# ------------------------------------------------------------------ isolation and validation


def test_another_tenants_lease_is_unknown(api: ApiClient, keys: Keys, moment: list[float]) -> None:
    mine = create_event(api, keys.creator, 1)
    theirs = create_event(api, keys.other_creator, 2)
    held = lease_inbox(api, keys.creator)
    assert _ids(held["items"]) == [mine]
    other = lease_inbox(api, keys.other_creator)
    assert _ids(other["items"]) == [theirs]
    forged = held["lease_id"][:-1] + ("A" if held["lease_id"][-1] != "A" else "B")
    for lease_id in (held["lease_id"], "nope", forged, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "é" * 42):
        key = keys.other_creator if lease_id == held["lease_id"] else keys.creator
        for path, body in (
            ("/inbox/ack", {"lease_id": lease_id}),
            ("/inbox/ack", {"lease_id": lease_id, "event_ids": [mine]}),
            ("/inbox/release", {"lease_id": lease_id}),
        ):
            result = api.post(path, key=key, json_body=body)
            assert (result.status, result.error_code) == (404, "not_found"), (path, lease_id)
    # Another tenant's event ids are unknown everywhere.
    ack = api.post("/inbox/ack", key=keys.creator, json_body={"event_ids": [theirs]})
    assert ack.json["not_found"] == [theirs]
    requeue = api.post(
        "/inbox/quarantine/requeue", key=keys.creator, json_body={"event_ids": [theirs]}
    )
    assert requeue.json == {"requeued": [], "not_found": [theirs]}
    release = {"lease_id": held["lease_id"], "event_ids": [theirs]}
    assert api.post("/inbox/release", key=keys.creator, json_body=release).json == {
        "released": [],
        "not_found": [theirs],
    }
    assert api.get("/inbox/quarantine", key=keys.other_viewer).json["items"] == []
    # Nothing of globex moved.
    assert _inbox(api, keys.other_viewer)[0]["leased_until"] == other["expires_at"]


def test_roles(api: ApiClient, keys: Keys) -> None:
    for path in ("/inbox/lease", "/inbox/release", "/inbox/quarantine/requeue"):
        assert api.post(path, key=keys.viewer, json_body={}).status == 403
        assert api.post(path, json_body={}).status == 401
    assert api.get("/inbox/quarantine", key=keys.viewer).status == 200
    assert api.get("/inbox/quarantine").status == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/inbox/lease", {"limit": 0}, "limit"),
        ("/inbox/lease", {"limit": 101}, "limit"),
        ("/inbox/lease", {"limit": "5"}, "limit"),
        ("/inbox/lease", {"limit": 2.5}, "limit"),
        ("/inbox/lease", {"limit": True}, "limit"),
        ("/inbox/lease", {"lease_seconds": 4}, "lease_seconds"),
        ("/inbox/lease", {"lease_seconds": 3601}, "lease_seconds"),
        ("/inbox/lease", {"lease_seconds": True}, "lease_seconds"),
        ("/inbox/lease", {"event_type": ""}, "event_type"),
        ("/inbox/lease", {"event_type": "x" * 256}, "event_type"),
        ("/inbox/lease", {"event_type": 5}, "event_type"),
        ("/inbox/lease", {"visibility": 30}, "visibility"),
        ("/inbox/ack", {}, "event_ids"),
        ("/inbox/ack", {"lease_id": ""}, "lease_id"),
        ("/inbox/ack", {"lease_id": 7}, "lease_id"),
        ("/inbox/ack", {"lease_id": "x" * 129}, "lease_id"),
        ("/inbox/ack", {"lease_id": "abc", "event_ids": []}, "event_ids"),
        ("/inbox/ack", {"event_ids": ["x"] * 101}, "event_ids"),
        ("/inbox/ack", {"event_ids": [""]}, "event_ids.0"),
        ("/inbox/ack", {"lease_id": "abc", "all": True}, "all"),
        ("/inbox/release", {}, "lease_id"),
        ("/inbox/release", {"lease_id": None}, "lease_id"),
        ("/inbox/release", {"lease_id": "abc", "event_ids": []}, "event_ids"),
        ("/inbox/release", {"lease_id": "abc", "event_ids": [3]}, "event_ids.0"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": -1}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": 3601}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "delay_seconds": "1"}, "delay_seconds"),
        ("/inbox/release", {"lease_id": "abc", "extra": 1}, "extra"),
        ("/inbox/quarantine/requeue", {}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": []}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": ["x"] * 101}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": "x"}, "event_ids"),
        ("/inbox/quarantine/requeue", {"event_ids": ["x"], "force": True}, "force"),
    ],
)
def test_validation_errors_name_the_field(
    api: ApiClient, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    result = api.post(path, key=keys.creator, json_body=body)
    assert (result.status, result.error_code) == (400, "validation_error"), result.text
    assert [d["field"] for d in result.json["error"]["details"]] == [field]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"cursor": ""}, {"event_type": "t"}]
)
def test_bad_quarantine_queries(api: ApiClient, keys: Keys, query: dict[str, str]) -> None:
    result = api.get("/inbox/quarantine", key=keys.viewer, query=query)
    assert (result.status, result.error_code) == (400, "validation_error")


def test_bad_json_and_media_type_on_lease_inbox(api: ApiClient, keys: Keys) -> None:
    result = api.post(
        "/inbox/lease", key=keys.creator, body="{", headers={"content-type": "application/json"}
    )
    assert (result.status, result.error_code) == (400, "invalid_json")
    result = api.post(
        "/inbox/lease", key=keys.creator, body="{}", headers={"content-type": "text/plain"}
    )
    assert result.status == 415
