"""Injected DynamoDB faults on every lease write path (the sweep of test_faults.py,
for POST /inbox/lease, ack by lease, release, requeue and the quarantine moves).

Each case: set up, snapshot every table, fail the write calls, send the request,
then check the client saw 503 with Retry-After, stored state is exactly as before
(an event is never both leased and acknowledged, never lost, no counter moved), and
with the fault gone the same request does what a first attempt would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from tests.conftest import ApiClient, Keys, Result
from tests.unit.test_faults import DDB_FAULTS, Fault, inject, stored_state

__all__ = ["inject"]  # the fixture, used by name


@pytest.fixture(autouse=True)
def settings_for_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "3600")
    settings.cache_clear()


def _event(api: ApiClient, key: str) -> str:
    body = {"event_type": "order.created", "payload": {"id": 1}}
    return str(api.post("/events", key=key, json_body=body).json["event_id"])


def _leased(api: ApiClient, key: str) -> dict[str, Any]:
    event_id = _event(api, key)
    held = api.post("/inbox/lease", key=key, json_body={"lease_seconds": 60}).json
    return {"event_id": event_id, "lease_id": held["lease_id"]}


def _on_last_attempt(api: ApiClient, key: str) -> dict[str, Any]:
    """Leased for the second (last) time: a release quarantines it."""
    ctx = _leased(api, key)
    api.post("/inbox/release", key=key, json_body={"lease_id": ctx["lease_id"]})
    held = api.post("/inbox/lease", key=key, json_body={"lease_seconds": 60}).json
    return {**ctx, "lease_id": held["lease_id"]}


def _last_lease_expired(api: ApiClient, key: str) -> dict[str, Any]:
    """Its last lease expired: the next lease call moves it to the quarantine."""
    ctx = _on_last_attempt(api, key)
    later = clock.now() + 61
    clock.set_clock(lambda: later)
    return ctx


def _quarantined(api: ApiClient, key: str) -> dict[str, Any]:
    ctx = _on_last_attempt(api, key)
    api.post("/inbox/release", key=key, json_body={"lease_id": ctx["lease_id"]})
    return ctx


@dataclass(frozen=True)
class LeasePath:
    name: str
    setup: Callable[[ApiClient, str], dict[str, Any]]
    send: Callable[[ApiClient, str, dict[str, Any]], Result]
    check: Callable[[Result, dict[str, Any]], None]


def _leases_it(result: Result, ctx: dict[str, Any]) -> None:
    assert [item["event_id"] for item in result.json["items"]] == [ctx["event_id"]]


def _acknowledged(result: Result, ctx: dict[str, Any]) -> None:
    assert result.json["acknowledged"] == [ctx["event_id"]]


def _released(result: Result, ctx: dict[str, Any]) -> None:
    assert result.json == {"released": [ctx["event_id"]], "not_found": []}


def _requeued(result: Result, ctx: dict[str, Any]) -> None:
    assert result.json == {"requeued": [ctx["event_id"]], "not_found": []}


def _moved_to_quarantine(result: Result, ctx: dict[str, Any]) -> None:
    assert result.json["items"] == []


PATHS = (
    LeasePath(
        "POST /inbox/lease",
        lambda api, k: {"event_id": _event(api, k)},
        lambda api, k, _: api.post("/inbox/lease", key=k, json_body={}),
        _leases_it,
    ),
    LeasePath(
        "POST /inbox/lease (moves an expired last lease to the quarantine)",
        _last_lease_expired,
        lambda api, k, _: api.post("/inbox/lease", key=k, json_body={}),
        _moved_to_quarantine,
    ),
    LeasePath(
        "POST /inbox/ack (lease)",
        _leased,
        lambda api, k, ctx: api.post("/inbox/ack", key=k, json_body={"lease_id": ctx["lease_id"]}),
        _acknowledged,
    ),
    LeasePath(
        "POST /inbox/ack (lease, ids)",
        _leased,
        lambda api, k, ctx: api.post(
            "/inbox/ack",
            key=k,
            json_body={"lease_id": ctx["lease_id"], "event_ids": [ctx["event_id"]]},
        ),
        _acknowledged,
    ),
    LeasePath(
        "POST /inbox/release",
        _leased,
        lambda api, k, ctx: api.post(
            "/inbox/release", key=k, json_body={"lease_id": ctx["lease_id"], "delay_seconds": 5}
        ),
        _released,
    ),
    LeasePath(
        "POST /inbox/release (last attempt: quarantine)",
        _on_last_attempt,
        lambda api, k, ctx: api.post(
            "/inbox/release", key=k, json_body={"lease_id": ctx["lease_id"]}
        ),
        _released,
    ),
    LeasePath(
        "POST /inbox/quarantine/requeue",
        _quarantined,
        lambda api, k, ctx: api.post(
            "/inbox/quarantine/requeue", key=k, json_body={"event_ids": [ctx["event_id"]]}
        ),
        _requeued,
    ),
    LeasePath(
        "DELETE /events/{id} (quarantined)",
        _quarantined,
        lambda api, k, ctx: api.delete(f"/events/{ctx['event_id']}", key=k),
        lambda result, _: None,
    ),
)


@pytest.mark.parametrize(
    ("path", "fault"),
    [pytest.param(p, f, id=f"{p.name} x {f.name}") for p in PATHS for f in DDB_FAULTS],
)
def test_lease_write_path_under_fault(
    api: ApiClient,
    keys: Keys,
    inject: Callable[[Fault], Callable[[], int]],
    path: LeasePath,
    fault: Fault,
) -> None:
    try:
        ctx = path.setup(api, keys.creator)
        before = stored_state()
        remove = inject(fault)
        result = path.send(api, keys.creator, ctx)
        assert remove() >= 1, "the fault never fired: the case tests nothing"
        assert result.status == 503, result.text
        assert result.error_code == "service_unavailable"
        assert int(result.headers["Retry-After"]) >= 1
        assert "injected" not in result.text
        assert stored_state() == before, "a failed write left something behind"
        retry = path.send(api, keys.creator, ctx)
        assert retry.status in (200, 204), retry.text
        path.check(retry, ctx)
    finally:
        clock.set_clock(None)
