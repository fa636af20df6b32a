"""POST /events: content dedup within its window, across instances and under concurrency,
and Idempotency-Key replays."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import ApiClient, Keys
from tests.unit.events_support import (  # noqa: F401 - fixtures
    EVENT,
    _events_stored,
    _post,
    _today,
    frozen_clock_fixture,
    hour_rate_window,
    serialised_transactions_fixture,
)

# ------------------------------------------------------------------ dedup


def test_same_content_within_window_returns_original(
    api: ApiClient, keys: Keys, aws_calls: Counter[str], frozen_clock: list[float]
) -> None:
    first = _post(api, keys.creator)
    reordered = {"payload": {"items": ["a", "b"], "order": 42}, "event_type": "order.created"}
    aws_calls.clear()
    frozen_clock[0] += 299
    second = _post(api, keys.creator, reordered)
    assert second.status == 200
    assert second.json == {**first.json, "duplicate": True}
    # The cancelled transaction + the duplicate counter: no read.
    assert aws_calls == Counter({"dynamodb.TransactWriteItems": 1, "dynamodb.UpdateItem": 1})
    assert _events_stored("acme") == 1
    assert _today("acme") == {"events_received": 1, "events_duplicate": 1}


def test_dedup_window_ends_after_five_minutes(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    first = _post(api, keys.creator)
    frozen_clock[0] += 301
    second = _post(api, keys.creator)
    assert second.status == 201
    assert second.json["event_id"] != first.json["event_id"]


@pytest.mark.parametrize(
    "variation",
    [
        {"event_type": "order.updated"},
        {"payload": {"order": 43, "items": ["a", "b"]}},
        {"source": "other"},
    ],
)
def test_different_content_is_a_new_event(
    api: ApiClient, keys: Keys, variation: dict[str, Any]
) -> None:
    assert _post(api, keys.creator).status == 201
    assert _post(api, keys.creator, {**EVENT, **variation}).status == 201


def test_dedup_is_per_tenant(api: ApiClient, keys: Keys) -> None:
    first = _post(api, keys.creator)
    other = _post(api, keys.other_creator)
    assert other.status == 201
    assert other.json["event_id"] != first.json["event_id"]


def test_dedup_holds_across_instances(api: ApiClient, keys: Keys) -> None:
    from tools.local.coldstate import reset_runtime

    first = _post(api, keys.creator)
    # A second container: every per-process cache and client is gone; only DynamoDB is shared.
    reset_runtime()
    second = _post(api, keys.creator)
    assert (second.status, second.json["event_id"]) == (200, first.json["event_id"])


def test_concurrent_identical_posts_store_one_event(
    api: ApiClient, keys: Keys, serialised_transactions: None
) -> None:
    barrier = threading.Barrier(16)

    def post(_: int) -> tuple[int, str]:
        barrier.wait()
        result = _post(api, keys.creator)
        return result.status, result.json["event_id"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, range(16)))
    statuses = Counter(status for status, _ in results)
    assert statuses == Counter({201: 1, 200: 15})
    assert len({event_id for _, event_id in results}) == 1
    assert _events_stored("acme") == 1
    assert _today("acme") == {"events_received": 1, "events_duplicate": 15}


# ------------------------------------------------------------------ idempotency


def test_idempotency_key_replays_original_response(
    api: ApiClient, keys: Keys, aws_calls: Counter[str], frozen_clock: list[float]
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = _post(api, keys.creator, headers=headers)
    assert first.status == 201
    frozen_clock[0] += 3000  # long after the dedup window
    aws_calls.clear()
    replay = _post(api, keys.creator, headers=headers)
    assert replay.status == 201
    assert replay.json == {**first.json, "duplicate": True}
    assert aws_calls == Counter({"dynamodb.TransactWriteItems": 1, "dynamodb.UpdateItem": 1})
    assert _events_stored("acme") == 1


def test_idempotency_key_expires_after_a_day(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = _post(api, keys.creator, headers=headers)
    frozen_clock[0] += 86_401
    again = _post(api, keys.creator, headers=headers)
    assert again.status == 201
    assert again.json["event_id"] != first.json["event_id"]


def test_idempotency_key_with_different_body_conflicts(api: ApiClient, keys: Keys) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert _post(api, keys.creator, headers=headers).status == 201
    result = _post(api, keys.creator, {**EVENT, "source": "changed"}, headers=headers)
    assert (result.status, result.error_code) == (409, "conflict")
    assert _events_stored("acme") == 1


def test_idempotency_key_on_a_content_duplicate_replays_the_duplicate_answer(
    api: ApiClient, keys: Keys, frozen_clock: list[float]
) -> None:
    first = _post(api, keys.creator)
    dup = _post(api, keys.creator, headers={"Idempotency-Key": "k2"})
    assert (dup.status, dup.json["event_id"]) == (200, first.json["event_id"])
    frozen_clock[0] += 3600  # the dedup window is over; the key still answers the same
    replay = _post(api, keys.creator, headers={"Idempotency-Key": "k2"})
    assert (replay.status, replay.json) == (200, dup.json)
    assert _events_stored("acme") == 1


def test_idempotency_keys_are_per_tenant(api: ApiClient, keys: Keys) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert _post(api, keys.creator, headers=headers).status == 201
    other = _post(api, keys.other_creator, {**EVENT, "source": "x"}, headers=headers)
    assert other.status == 201


@pytest.mark.parametrize("value", ["", "k" * 256])
def test_idempotency_key_length_is_validated(api: ApiClient, keys: Keys, value: str) -> None:
    result = _post(api, keys.creator, headers={"Idempotency-Key": value})
    assert (result.status, result.error_code) == (400, "validation_error")
    assert result.json["error"]["details"][0]["field"] == "Idempotency-Key"
