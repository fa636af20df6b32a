"""Leased-consumption test support: a clock the test moves, the rate limiter kept out
of the way, and the event and lease calls the lease tests make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import counters
from tests.conftest import ApiClient

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a fixture: many requests per test (the limiter has its own tests)."""
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "3600")
    settings.cache_clear()


def moving_clock(start: float = START) -> Iterator[list[float]]:
    """For a fixture: a clock the test moves (`now[0] += seconds`); each read is a
    millisecond later, so ids increase."""
    now = [start]

    def tick() -> float:
        now[0] += 0.001
        return now[0]

    clock.set_clock(tick)
    yield now
    clock.set_clock(None)


def create_event(api: ApiClient, key: str, n: int, event_type: str = "t") -> str:
    """POST /events of `{"n": n}`; its event_id."""
    result = api.post("/events", key=key, json_body={"event_type": event_type, "payload": {"n": n}})
    assert result.status == 201, result.text
    return str(result.json["event_id"])


def lease_inbox(api: ApiClient, key: str, **body: Any) -> dict[str, Any]:
    """POST /inbox/lease, which must answer 200; its body."""
    result = api.post("/inbox/lease", key=key, json_body=body)
    assert result.status == 200, result.text
    return dict(result.json)


# The lease test modules import these fixtures; autouse applies wherever one is imported.
@pytest.fixture(autouse=True, name="generous_rate_limit")
def lifted_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    generous_rate_limit(monkeypatch)


@pytest.fixture(name="moment")
def moment_fixture() -> Iterator[list[float]]:
    yield from moving_clock()


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in items]


def _inbox(api: ApiClient, key: str) -> list[dict[str, Any]]:
    return list(api.get("/inbox", key=key).json["items"])


def _today(tenant: str) -> dict[str, int]:
    return counters.read_day(tenant, clock.day_of(clock.now())) or {}


def _status(api: ApiClient, key: str, event_id: str) -> str:
    return str(api.get(f"/events/{event_id}", key=key).json["status"])
