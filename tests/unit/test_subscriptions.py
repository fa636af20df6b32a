"""The subscriptions API: shapes, the secret shown once, bad input on every field,
roles, tenant isolation on every route and id, pagination."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.runtime.config import settings
from common.store import aws as clients
from common.triggers import ssrf, webhooks
from common.triggers import subscriptions as subs
from tests.conftest import ApiClient, Keys

URL = "https://hooks.example.com/dockhand"


@pytest.fixture(autouse=True)
def setup(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34"])
    settings.cache_clear()


def create(api: ApiClient, key: str, **fields: Any) -> Any:
    return api.post("/subscriptions", key=key, json_body={"url": URL, **fields})


def test_create_answers_201_with_a_whsec_secret_shown_once(api: ApiClient, keys: Keys) -> None:
    result = create(api, keys.creator, event_types=["order.*", "build.done"], description="shop")
    assert result.status == 201, result.text
    body = result.json
    assert set(body) == {
        "subscription_id",
        "url",
        "event_types",
        "description",
        "status",
        "secret",
        "created_at",
        "last_success_at",
        "last_failure_at",
        "consecutive_failures",
        "failing_since",
        "paused_at",
        "headers",
        "rate_limit_per_second",
    }
    assert (body["headers"], body["rate_limit_per_second"]) == ({}, None)
    assert (body["failing_since"], body["paused_at"]) == (None, None)
    assert (body["url"], body["status"], body["description"]) == (URL, "active", "shop")
    assert body["event_types"] == ["order.*", "build.done"]
    assert len(webhooks.parse_secret(body["secret"])) == 32
    shown = api.get(f"/subscriptions/{body['subscription_id']}", key=keys.viewer)
    assert shown.status == 200
    assert "secret" not in shown.json
    assert body["secret"] not in shown.text
    listed = api.get("/subscriptions", key=keys.viewer)
    assert body["secret"] not in listed.text
    assert [s["subscription_id"] for s in listed.json["items"]] == [body["subscription_id"]]


def test_the_secret_is_not_stored(api: ApiClient, keys: Keys) -> None:
    body = create(api, keys.creator).json
    stored = json.dumps(clients.dynamodb().scan(TableName=settings().hooks_table)["Items"])
    key = webhooks.parse_secret(body["secret"])
    assert body["secret"] not in stored
    assert body["secret"][6:] not in stored
    assert key.hex() not in stored


def test_secrets_differ_per_subscription_and_rotation(api: ApiClient, keys: Keys) -> None:
    a, b = create(api, keys.creator).json, create(api, keys.creator).json
    assert a["secret"] != b["secret"]
    rotated = api.post(f"/subscriptions/{a['subscription_id']}/rotate-secret", key=keys.creator)
    assert rotated.status == 200
    assert set(rotated.json) == {"subscription_id", "secret", "previous_secret_expires_at"}
    assert rotated.json["secret"] not in (a["secret"], b["secret"])
    record = subs.get("acme", a["subscription_id"])
    import time

    keys_now = record.signing_keys(time.time())
    assert [webhooks.format_secret(k) for k in keys_now] == [rotated.json["secret"], a["secret"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/"}, "url"),
        ({"url": "https://hooks.example.com:8080/"}, "url"),
        ({"url": "https://127.0.0.1/"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "https://2130706433/"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url"),
        ({"url": "http://127.0.0.1:8080/"}, "url"),  # loopback only under make run
        ({"url": ""}, "url"),
        ({"url": 5}, "url"),
        ({"url": "https://" + "a" * 2050}, "url"),
        ({}, "url"),
        ({"url": URL, "event_types": []}, "event_types"),
        ({"url": URL, "event_types": [""]}, "event_types.0"),
        ({"url": URL, "event_types": ["a*"]}, "event_types"),
        ({"url": URL, "event_types": ["*"]}, "event_types"),
        ({"url": URL, "event_types": ["a.*.b"]}, "event_types"),
        ({"url": URL, "event_types": "order.*"}, "event_types"),
        ({"url": URL, "event_types": ["x"] * 51}, "event_types"),
        ({"url": URL, "description": "d" * 256}, "description"),
        ({"url": URL, "description": 1}, "description"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),
        ({"url": URL, "status": "disabled"}, "status"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(
    api: ApiClient, keys: Keys, body: dict[str, Any], field: str
) -> None:
    result = api.post("/subscriptions", key=keys.creator, json_body=body)
    assert result.status == 400, result.text
    assert result.error_code == "validation_error"
    assert any(d["field"].startswith(field) for d in result.json["error"]["details"]), result.text


def test_a_host_resolving_to_a_private_address_is_refused_at_subscribe_time(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34", "10.0.0.1"])
    result = create(api, keys.creator)
    assert result.status == 400
    assert result.json["error"]["details"][0]["field"] == "url"
    assert "10.0.0.1" not in result.text  # the rule, not the internal address


def test_json_and_media_type_errors(api: ApiClient, keys: Keys) -> None:
    bad = api.post(
        "/subscriptions", key=keys.creator, body="{", headers={"content-type": "application/json"}
    )
    assert (bad.status, bad.error_code) == (400, "invalid_json")
    text = api.post(
        "/subscriptions", key=keys.creator, body="{}", headers={"content-type": "text/plain"}
    )
    assert (text.status, text.error_code) == (415, "unsupported_media_type")


def test_viewers_cannot_write_and_anonymous_callers_cannot_read(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator).json["subscription_id"]
    for method, path, body in (
        ("POST", "/subscriptions", {"url": URL}),
        ("DELETE", f"/subscriptions/{sid}", None),
        ("POST", f"/subscriptions/{sid}/enable", None),
        ("POST", f"/subscriptions/{sid}/rotate-secret", None),
        ("POST", f"/subscriptions/{sid}/replay", {"since": "2026-01-01T00:00:00Z"}),
    ):
        result = api.call(method, path, key=keys.viewer, json_body=body)
        assert (result.status, result.error_code) == (403, "forbidden"), path
    assert api.get("/subscriptions").status == 401
    assert api.get(f"/subscriptions/{sid}/deliveries").status == 401


def _routes(sid: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"/subscriptions/{sid}", None),
        ("DELETE", f"/subscriptions/{sid}", None),
        ("POST", f"/subscriptions/{sid}/enable", None),
        ("POST", f"/subscriptions/{sid}/rotate-secret", None),
        ("GET", f"/subscriptions/{sid}/deliveries", None),
        ("POST", f"/subscriptions/{sid}/replay", {"since": "2026-01-01T00:00:00Z"}),
    ]


def test_another_tenants_id_answers_exactly_like_an_unknown_id(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator).json["subscription_id"]
    unknown = "01JDC5A1B2C3D4E5F6G7H8J9K0"
    for (method, path, body), (_, unknown_path, _) in zip(
        _routes(sid), _routes(unknown), strict=True
    ):
        foreign = api.call(method, path, key=keys.other_creator, json_body=body)
        missing = api.call(method, unknown_path, key=keys.other_creator, json_body=body)
        assert (foreign.status, foreign.error_code) == (404, "not_found"), path
        assert foreign.json["error"]["message"] == missing.json["error"]["message"]
    malformed = api.get("/subscriptions/not-an-id", key=keys.viewer)
    assert malformed.status == 404
    assert api.get("/subscriptions", key=keys.other_viewer).json["items"] == []
    assert api.get(f"/subscriptions/{sid}", key=keys.viewer).status == 200  # untouched


def test_delete_then_404(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator).json["subscription_id"]
    assert api.delete(f"/subscriptions/{sid}", key=keys.creator).status == 204
    assert api.delete(f"/subscriptions/{sid}", key=keys.creator).status == 404
    assert api.get(f"/subscriptions/{sid}", key=keys.viewer).status == 404


def test_no_body_routes_refuse_fields(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator).json["subscription_id"]
    for route in ("enable", "rotate-secret"):
        ok = api.post(f"/subscriptions/{sid}/{route}", key=keys.creator, json_body={})
        assert ok.status == 200, ok.text
        bad = api.post(f"/subscriptions/{sid}/{route}", key=keys.creator, json_body={"x": 1})
        assert (bad.status, bad.error_code) == (400, "validation_error")


def test_list_paginates_with_bound_cursors(api: ApiClient, keys: Keys) -> None:
    ids = [create(api, keys.creator).json["subscription_id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/subscriptions", key=keys.viewer, query=query).json
        seen += [s["subscription_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
        foreign = api.get("/subscriptions", key=keys.other_viewer, query={"cursor": cursor})
        assert (foreign.status, foreign.error_code) == (400, "invalid_cursor")
    assert seen == ids
    for bad in ({"limit": "0"}, {"limit": "201"}, {"cursor": "x"}, {"other": "1"}):
        assert api.get("/subscriptions", key=keys.viewer, query=bad).status == 400


def test_deliveries_of_a_new_subscription_are_an_empty_page(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator).json["subscription_id"]
    page = api.get(f"/subscriptions/{sid}/deliveries", key=keys.viewer)
    assert page.json == {"items": [], "next_cursor": None, "has_more": False}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-13-01T00:00:00Z"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "event_types": ["*"]}, "event_types"),
        ({"since": "2026-01-01T00:00:00Z", "extra": 1}, "extra"),
    ],
)
def test_replay_validation(
    api: ApiClient, keys: Keys, body: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_DELIVERY_QUEUE_URL", "https://sqs.invalid/none")
    settings.cache_clear()
    sid = create(api, keys.creator).json["subscription_id"]
    result = api.post(f"/subscriptions/{sid}/replay", key=keys.creator, json_body=body)
    assert result.status == 400, result.text
    assert any(d["field"].startswith(field) for d in result.json["error"]["details"])


@pytest.mark.parametrize(
    ("filters", "event_type", "wanted"),
    [
        (None, "anything", True),
        (["order.*"], "order.created", True),
        (["order.*"], "order.paid.late", True),
        (["order.*"], "order", False),
        (["order.*"], "orders.created", False),
        (["order.created"], "order.created", True),
        (["order.created"], "order.created.v2", False),
        (["a", "b.*"], "b.x", True),
    ],
)
def test_matching(filters: list[str] | None, event_type: str, wanted: bool) -> None:
    assert subs.matches(filters, event_type) is wanted
