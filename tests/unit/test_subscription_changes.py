"""PATCH, custom headers, rate limits, pause and enable, through the API: shapes, bad
input on every new field, the SSRF guard on a changed url, roles, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from common.runtime.config import settings
from common.store import aws as clients
from common.triggers import ssrf
from common.triggers import subscriptions as subs
from tests.conftest import ApiClient, Keys

URL = "https://hooks.example.com/dockhand"
UNKNOWN = "01JDC5A1B2C3D4E5F6G7H8J9K0"


@pytest.fixture(autouse=True)
def setup(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34"])
    settings.cache_clear()


def create(api: ApiClient, key: str, **fields: Any) -> dict[str, Any]:
    result = api.post("/subscriptions", key=key, json_body={"url": URL, **fields})
    assert result.status == 201, result.text
    return dict(result.json)


def patch(api: ApiClient, key: str, sid: str, body: Any) -> Any:
    return api.call("PATCH", f"/subscriptions/{sid}", key=key, json_body=body)


def stored(sid: str) -> dict[str, Any]:
    return dict(subs.get("acme", sid).item)


def test_create_takes_headers_and_a_rate_limit_and_reads_them_back(
    api: ApiClient, keys: Keys
) -> None:
    headers = {"Authorization": "Bearer receiver-token", "X-Team": "payments"}
    body = create(api, keys.creator, headers=headers, rate_limit_per_second=5)
    assert (body["headers"], body["rate_limit_per_second"]) == (headers, 5)
    shown = api.get(f"/subscriptions/{body['subscription_id']}", key=keys.viewer).json
    assert (shown["headers"], shown["rate_limit_per_second"]) == (headers, 5)
    assert api.get("/subscriptions", key=keys.viewer).json["items"][0]["headers"] == headers
    item = stored(body["subscription_id"])
    assert (item["headers"], int(item["rate_limit_per_second"])) == (headers, 5)


def test_patch_changes_only_what_is_given_and_keeps_the_secret(api: ApiClient, keys: Keys) -> None:
    created = create(api, keys.creator, event_types=["order.*"], description="shop")
    sid = created["subscription_id"]
    before = stored(sid)
    changed = patch(
        api,
        keys.creator,
        sid,
        {
            "url": "https://other.example.com/in",
            "headers": {"X-A": "1"},
            "rate_limit_per_second": 9,
        },
    )
    assert changed.status == 200, changed.text
    body = changed.json
    assert body["url"] == "https://other.example.com/in"
    assert (body["event_types"], body["description"]) == (["order.*"], "shop")  # kept
    assert (body["headers"], body["rate_limit_per_second"]) == ({"X-A": "1"}, 9)
    assert "secret" not in body
    after = stored(sid)
    for name in ("secret_gen", "salt", "created_at"):
        assert after[name] == before[name]  # the secret every receiver verifies with
    assert subs.get("acme", sid).signing_keys(0) == subs.Subscription(before).signing_keys(0)


def test_patch_null_clears_optional_fields_and_headers_replace_the_set(
    api: ApiClient, keys: Keys
) -> None:
    sid = create(
        api,
        keys.creator,
        event_types=["a"],
        description="d",
        headers={"X-A": "1", "X-B": "2"},
        rate_limit_per_second=3,
    )["subscription_id"]
    replaced = patch(api, keys.creator, sid, {"headers": {"X-C": "3"}}).json
    assert replaced["headers"] == {"X-C": "3"}
    cleared = patch(
        api,
        keys.creator,
        sid,
        {"event_types": None, "description": None, "headers": None, "rate_limit_per_second": None},
    ).json
    assert (cleared["event_types"], cleared["description"]) == (None, None)
    assert (cleared["headers"], cleared["rate_limit_per_second"]) == ({}, None)
    assert "headers" not in stored(sid)
    assert "rate_limit_per_second" not in stored(sid)
    assert patch(api, keys.creator, sid, {"headers": {}}).json["headers"] == {}


def test_an_empty_patch_changes_nothing_and_answers_the_subscription(
    api: ApiClient, keys: Keys
) -> None:
    created = create(api, keys.creator, description="same")
    before = stored(created["subscription_id"])
    result = patch(api, keys.creator, created["subscription_id"], {})
    assert result.status == 200, result.text
    assert result.json["description"] == "same"
    assert stored(created["subscription_id"]) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "http://hooks.example.com/"}, "url"),
        ({"url": "https://10.0.0.1/"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": "0"}, "url"),
        ({"secret": "whsec_x"}, "secret"),
        ({"status": "active"}, "status"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["*"]}, "event_types"),
        ({"description": "d" * 256}, "description"),
        ({"rate_limit_per_second": 0}, "rate_limit_per_second"),
        ({"rate_limit_per_second": 1001}, "rate_limit_per_second"),
        ({"rate_limit_per_second": 2.5}, "rate_limit_per_second"),
        ({"rate_limit_per_second": "5"}, "rate_limit_per_second"),
        ({"rate_limit_per_second": True}, "rate_limit_per_second"),
        ({"headers": []}, "headers"),
        ({"headers": {"X-A": 1}}, "headers"),
        ({"headers": {f"X-{n}": "v" for n in range(11)}}, "headers"),
        ({"headers": {"bad name": "v"}}, "headers"),
        ({"headers": {"X(y)": "v"}}, "headers"),
        ({"headers": {"": "v"}}, "headers"),
        ({"headers": {"x" * 65: "v"}}, "headers"),
        ({"headers": {"X-A": "v" * 1025}}, "headers"),
        ({"headers": {"X-A": "line\r\nX-Injected: 1"}}, "headers"),
        ({"headers": {"X-A": "tab\there"}}, "headers"),
        ({"headers": {"X-A": "caf\u00e9"}}, "headers"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "headers"),
        ({"headers": {"Webhook-Id": "forged"}}, "headers"),
        ({"headers": {"webhook-signature": "v1,x"}}, "headers"),
        ({"headers": {"Content-Type": "text/plain"}}, "headers"),
        ({"headers": {"content-length": "1"}}, "headers"),
        ({"headers": {"HOST": "evil.example"}}, "headers"),
        ({"headers": {"User-Agent": "me"}}, "headers"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "headers"),
    ],
)
def test_bad_changes_are_refused_naming_the_field_and_change_nothing(
    api: ApiClient, keys: Keys, body: dict[str, Any], field: str
) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    before = stored(sid)
    result = patch(api, keys.creator, sid, body)
    assert (result.status, result.error_code) == (400, "validation_error"), result.text
    assert any(d["field"].startswith(field) for d in result.json["error"]["details"]), result.text
    assert stored(sid) == before
    created = api.post("/subscriptions", key=keys.creator, json_body={"url": URL, **body})
    if field not in ("url", "secret", "status"):  # the same rules hold on create
        assert (created.status, created.error_code) == (400, "validation_error"), created.text


def test_header_edges_that_are_allowed(api: ApiClient, keys: Keys) -> None:
    headers = {
        "Authorization": "Basic " + "a" * 1018,  # 1024 characters
        "x" * 64: "",
        "X-Spaces": "a b  c",
        "!#$%&'*+-.^_`|~": "~!@#$%^&*()",
        **{f"X-{n}": str(n) for n in range(6)},
    }
    assert len(headers) == 10
    assert create(api, keys.creator, headers=headers)["headers"] == headers


def test_a_changed_url_resolving_to_a_private_address_is_refused(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["10.1.2.3"])
    result = patch(api, keys.creator, sid, {"url": "https://internal.example.com/"})
    assert (result.status, result.error_code) == (400, "validation_error")
    assert result.json["error"]["details"][0]["field"] == "url"
    assert "10.1.2.3" not in result.text
    assert stored(sid)["url"] == URL


def test_pause_then_enable_round_trip(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    paused = api.post(f"/subscriptions/{sid}/pause", key=keys.creator)
    assert paused.status == 200, paused.text
    assert paused.json["status"] == "paused"
    assert paused.json["paused_at"] is not None
    again = api.post(f"/subscriptions/{sid}/pause", key=keys.creator, json_body={})
    assert again.json["paused_at"] == paused.json["paused_at"]  # the first pause counts
    shown = api.get(f"/subscriptions/{sid}", key=keys.viewer).json
    assert (shown["status"], shown["paused_at"]) == ("paused", paused.json["paused_at"])
    enabled = api.post(
        f"/subscriptions/{sid}/enable", key=keys.creator, json_body={"recover": False}
    )
    assert enabled.status == 200, enabled.text
    assert (enabled.json["status"], enabled.json["paused_at"]) == ("active", None)
    assert "paused_at" not in stored(sid)
    assert "recovery_id" not in stored(sid)  # recover: false records no window


@pytest.mark.parametrize(
    "body", [{"recover": "no"}, {"recover": 0}, {"recover": None}, {"other": True}, []]
)
def test_enable_body_is_checked(api: ApiClient, keys: Keys, body: Any) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    result = api.post(f"/subscriptions/{sid}/enable", key=keys.creator, json_body=body)
    assert (result.status, result.error_code) == (400, "validation_error"), result.text


def test_pause_refuses_a_body(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    result = api.post(f"/subscriptions/{sid}/pause", key=keys.creator, json_body={"x": 1})
    assert (result.status, result.error_code) == (400, "validation_error")
    assert stored(sid)["status"] == "active"


def test_enable_of_a_disabled_subscription_resets_its_failure_record(
    api: ApiClient, keys: Keys
) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    clients.dynamodb().update_item(
        TableName=settings().hooks_table,
        Key={"pk": {"S": "T#acme#SUBS"}, "sk": {"S": sid}},
        UpdateExpression="SET #s = :d, disabled_at = :t, consecutive_failures = :n, "
        "failing_since = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":d": {"S": "disabled"},
            ":t": {"S": "2026-12-01T00:00:00.000Z"},
            ":n": {"N": "5"},
            ":f": {"N": "1764460800"},
        },
    )
    shown = api.get(f"/subscriptions/{sid}", key=keys.viewer).json
    assert (shown["status"], shown["failing_since"]) == ("disabled", "2025-11-30T00:00:00.000Z")
    enabled = api.post(
        f"/subscriptions/{sid}/enable", key=keys.creator, json_body={"recover": False}
    )
    assert enabled.status == 200, enabled.text
    body = enabled.json
    assert (body["status"], body["consecutive_failures"], body["failing_since"]) == (
        "active",
        0,
        None,
    )


def test_failing_since_written_as_text_reads_back_the_same(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    clients.dynamodb().update_item(
        TableName=settings().hooks_table,
        Key={"pk": {"S": "T#acme#SUBS"}, "sk": {"S": sid}},
        UpdateExpression="SET failing_since = :f",
        ExpressionAttributeValues={":f": {"S": "2026-12-01T08:00:00.123Z"}},
    )
    shown = api.get(f"/subscriptions/{sid}", key=keys.viewer).json
    assert shown["failing_since"] == "2026-12-01T08:00:00.123Z"


def _routes(sid: str) -> list[tuple[str, str, Any]]:
    return [
        ("PATCH", f"/subscriptions/{sid}", {"description": "x"}),
        ("POST", f"/subscriptions/{sid}/pause", None),
        ("POST", f"/subscriptions/{sid}/enable", {"recover": False}),
        ("POST", f"/subscriptions/{sid}/test", None),
        ("POST", f"/subscriptions/{sid}/resend", {"event_id": UNKNOWN}),
    ]


def test_viewers_cannot_use_the_new_routes(api: ApiClient, keys: Keys) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    for method, path, body in _routes(sid):
        result = api.call(method, path, key=keys.viewer, json_body=body)
        assert (result.status, result.error_code) == (403, "forbidden"), path
        assert api.call(method, path, json_body=body).status == 401
    assert stored(sid)["status"] == "active"


def test_another_tenants_id_answers_like_an_unknown_one_on_the_new_routes(
    api: ApiClient, keys: Keys
) -> None:
    sid = create(api, keys.creator)["subscription_id"]
    before = stored(sid)
    for (method, path, body), (_, unknown_path, _) in zip(
        _routes(sid), _routes(UNKNOWN), strict=True
    ):
        foreign = api.call(method, path, key=keys.other_creator, json_body=body)
        missing = api.call(method, unknown_path, key=keys.other_creator, json_body=body)
        assert (foreign.status, foreign.error_code) == (404, "not_found"), path
        assert foreign.json["error"]["message"] == missing.json["error"]["message"]
    # A foreign PATCH with a url is 404 too, before any SSRF verdict on it.
    foreign_url = patch(api, keys.other_creator, sid, {"url": "https://10.0.0.1/"})
    assert (foreign_url.status, foreign_url.error_code) == (404, "not_found")
    assert stored(sid) == before
