"""API keys: 401s that all look alike, viewer vs creator, one bcrypt per key per
container, revocation within the cache lifetime, and no secret in any log line."""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Iterator

import pytest

from common.access import auth
from tests.conftest import ApiClient, Keys


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The key cache's clock, under the test's control."""
    moment = [1000.0]
    monkeypatch.setattr(auth, "monotonic", lambda: moment[0])
    return moment


def _unauthorized_body(result: object) -> dict[str, object]:
    body = dict(result.json["error"])  # type: ignore[attr-defined]
    body.pop("request_id")
    return body


def test_missing_malformed_unknown_and_wrong_keys_get_the_same_401(
    api: ApiClient, keys: Keys
) -> None:
    key_id, secret = auth.split_key(keys.creator) or ("", "")
    wrong_secret = f"dk_{key_id}_{'A' * 43}"
    unknown = f"dk_{'z' * 16}_{secret}"
    revoked = auth.create_key("acme", "creator")
    auth.revoke_key(revoked["key_id"])
    headers_cases = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer dk_{key_id}"},
        {"Authorization": f"Bearer {keys.creator}x"},
        {"Authorization": f"Bearer {wrong_secret}"},
        {"Authorization": f"Bearer {unknown}"},
        {"Authorization": f"Bearer {revoked['api_key']}"},
    ]
    bodies = []
    for headers in headers_cases:
        result = api.get("/inbox", headers=headers)
        assert result.status == 401, headers
        bodies.append(_unauthorized_body(result))
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0] == {
        "code": "unauthorized",
        "message": "Missing or invalid credentials.",
        "details": [],
    }


def test_viewer_reads_but_may_not_write(api: ApiClient, keys: Keys) -> None:
    assert api.get("/inbox", key=keys.viewer).status == 200
    body = {"event_type": "a", "payload": {}}
    for result in (
        api.post("/events", key=keys.viewer, json_body=body),
        api.post("/inbox/ack", key=keys.viewer, json_body={"event_ids": ["x"]}),
        api.delete("/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", key=keys.viewer),
    ):
        assert (result.status, result.error_code) == (403, "forbidden")
    assert api.post("/events", key=keys.creator, json_body=body).status == 201


def test_bcrypt_runs_once_per_key_per_container(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    before = auth.verification_count
    for _ in range(5):
        assert api.get("/inbox", key=keys.viewer).status == 200
    assert auth.verification_count == before + 1
    assert aws_calls["dynamodb.GetItem"] == 1  # one lookup by key id, never a scan
    assert "dynamodb.Scan" not in aws_calls
    api.get("/inbox", key=keys.creator)
    assert auth.verification_count == before + 2


def test_wrong_secret_never_hits_the_cache(api: ApiClient, keys: Keys) -> None:
    key_id, _ = auth.split_key(keys.creator) or ("", "")
    assert api.get("/inbox", key=keys.creator).status == 200
    assert api.get("/inbox", key=f"dk_{key_id}_{'B' * 43}").status == 401


def test_revoked_key_works_at_most_the_cache_lifetime(
    api: ApiClient, keys: Keys, monotonic: list[float]
) -> None:
    from common.runtime.config import settings

    assert api.get("/inbox", key=keys.viewer).status == 200
    key_id, _ = auth.split_key(keys.viewer) or ("", "")
    # Revoked from elsewhere (another container, the CLI): this container's cache
    # still holds the key.
    from common.store import aws, ddb

    aws.dynamodb().update_item(
        TableName=settings().keys_table,
        Key=ddb.serialize({"pk": f"KEY#{key_id}", "sk": "KEY"}),
        UpdateExpression="SET revoked_at = :t",
        ExpressionAttributeValues={":t": ddb.value("2026-01-01T00:00:00.000Z")},
    )
    monotonic[0] += settings().key_cache_seconds - 1
    assert api.get("/inbox", key=keys.viewer).status == 200
    monotonic[0] += 1
    assert api.get("/inbox", key=keys.viewer).status == 401
    assert settings().key_cache_seconds <= 60


def test_revocation_in_this_container_is_immediate(api: ApiClient, keys: Keys) -> None:
    assert api.get("/inbox", key=keys.viewer).status == 200
    key_id, _ = auth.split_key(keys.viewer) or ("", "")
    auth.revoke_key(key_id)
    assert api.get("/inbox", key=keys.viewer).status == 401


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every line the service logger writes, formatted as in production (JSON)."""
    from common.runtime.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_no_secret_in_logs(api: ApiClient, keys: Keys, log_lines: io.StringIO) -> None:
    key_id, secret = auth.split_key(keys.creator) or ("", "")
    api.post("/events", key=keys.creator, json_body={"event_type": "a", "payload": {}})
    api.get("/inbox", key=f"dk_{key_id}_{'C' * 43}")  # a rejected key is logged too
    logged = log_lines.getvalue()
    assert logged.count("\n") >= 3
    assert key_id in logged  # the key id is what operators search by
    assert secret not in logged
    assert "C" * 43 not in logged
    assert "Bearer" not in logged


def test_keys_carry_tenant_and_role(aws: None) -> None:
    created = auth.create_key("acme", "viewer", "ci")
    principal = auth.authenticate(f"Bearer {created['api_key']}")
    assert (principal.tenant, principal.role, principal.key_id) == (
        "acme",
        "viewer",
        created["key_id"],
    )
    listed = auth.list_keys("acme")
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "secret_hash" not in listed[0]


@pytest.mark.parametrize(("tenant", "role"), [("Acme!", "viewer"), ("acme", "admin")])
def test_create_key_validates(aws: None, tenant: str, role: str) -> None:
    from common.runtime.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        auth.create_key(tenant, role)
