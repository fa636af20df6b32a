"""POST /events test support shared by test_events.py and test_events_dedup.py (and the
MCP tests' concurrency check): the sample event, raw-table reads, the clock and the lock
that gives moto DynamoDB's serialisable transactions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws, counters, ddb
from tests.conftest import ApiClient

EVENT = {"event_type": "order.created", "payload": {"order": 42, "items": ["a", "b"]}}


def _post(api: ApiClient, key: str, body: Any = None, **kwargs: Any) -> Any:
    return api.post("/events", key=key, json_body=EVENT if body is None else body, **kwargs)


def _raw_item(pk: str, sk: str) -> dict[str, Any] | None:
    raw = (
        aws.dynamodb()
        .get_item(TableName=settings().events_table, Key=ddb.serialize({"pk": pk, "sk": sk}))
        .get("Item")
    )
    return ddb.deserialize(raw) if raw else None


def _events_stored(tenant: str) -> int:
    result = aws.dynamodb().scan(TableName=settings().events_table)  # test-only inspection
    return sum(
        1 for raw in result["Items"] if ddb.deserialize(raw)["pk"].startswith(f"T#{tenant}#E#")
    )


def _today(tenant: str) -> dict[str, int]:
    return counters.read_day(tenant, clock.day_of(clock.now())) or {}


@pytest.fixture(autouse=True)
def hour_rate_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clock jumps below stay in one rate-limit window, so call counts show no lease."""
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "3600")
    settings.cache_clear()


@pytest.fixture(name="frozen_clock")
def frozen_clock_fixture() -> Iterator[list[float]]:
    moment = [1_767_225_600.0]  # 2026-01-01T00:00:00Z
    clock.set_clock(lambda: moment[0])
    yield moment
    clock.set_clock(None)


@pytest.fixture(name="serialised_transactions")
def serialised_transactions_fixture() -> Iterator[None]:
    """moto takes no lock and rolls a cancelled transaction back by restoring a copy of
    each table it touched, which can erase another thread's write made meanwhile.
    DynamoDB runs transactions serialisably; one lock around moto's writes gives it
    the same property, so the test checks *our* conditional logic, not moto's."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # re-entrant: a transaction calls put_item/update_item itself

    def locked(original: Any) -> Any:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return run

    names = ("transact_write_items", "update_item", "put_item", "delete_item")
    patches = [
        mock.patch.object(DynamoDBBackend, n, locked(getattr(DynamoDBBackend, n))) for n in names
    ]
    for patch in patches:
        patch.start()
    yield
    for patch in patches:
        patch.stop()
