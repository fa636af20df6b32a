"""GET /stats: a tenant's figures for a day — the stored rollup, else live figures."""

from __future__ import annotations

import pytest

from common.runtime import clock
from common.stats import rollup
from common.store import counters
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import heartbeat, register

DAY = "2026-09-21"
DAY_MOMENT = 1_790_000_000.0  # 2026-09-21T14:13:20Z
NEXT_MORNING = 1_790_035_500.0  # 2026-09-22T00:05:00Z


@pytest.fixture(autouse=True)
def frozen(aws: None) -> None:
    clock.set_clock(lambda: DAY_MOMENT)


def stats(api: ApiClient, key: str, day: str | None = DAY) -> tuple[int, dict[str, object]]:
    result = api.get("/stats", key=key, query={"day": day} if day is not None else None)
    return result.status, result.json


def test_stored_rollup_is_served_as_final(api: ApiClient, keys: Keys) -> None:
    counters.increment("acme", {"events_received": 4, "notes_created": 1}, DAY_MOMENT)
    clock.set_clock(lambda: NEXT_MORNING)
    rollup.run(DAY, inbox_summary=lambda tenant: (0, None))
    status, body = stats(api, keys.viewer)
    assert status == 200
    assert body == {
        "day": DAY,
        "events_received": 4,
        "events_duplicate": 0,
        "events_delivered": 0,
        "events_leased": 0,
        "events_released": 0,
        "events_quarantined": 0,
        "notes_created": 1,
        "snapshots_created": 0,
        "heartbeats": 0,
        "deliveries_succeeded": 0,
        "deliveries_failed": 0,
        "deliveries_exhausted": 0,
        "jobs_succeeded": 0,
        "jobs_failed": 0,
        "inbox_pending": 0,
        "inbox_oldest_pending_age_seconds": 0,
        "inbox_leased": 0,
        "agents": {"healthy": 0, "unhealthy": 0, "dead": 0},
        "computed_at": "2026-09-22T00:05:00.000Z",
        "final": True,
    }
    # Counters arriving after the rollup (none should) do not change a final day.
    counters.increment("acme", {"events_received": 1}, DAY_MOMENT)
    assert stats(api, keys.viewer)[1]["events_received"] == 4


def test_today_is_live(api: ApiClient, keys: Keys) -> None:
    agent = register(api, keys.creator)
    assert heartbeat(api, agent).status == 200
    body = {"event_type": "build.done", "payload": {}}
    assert api.post("/events", key=keys.creator, json_body=body).status == 201
    status, today = stats(api, keys.viewer, day=None)  # default: today
    assert status == 200
    assert today["day"] == DAY
    assert today["final"] is False
    assert today["heartbeats"] == 1
    assert today["events_received"] == 1
    assert today["inbox_pending"] == 1
    assert today["agents"] == {"healthy": 1, "unhealthy": 0, "dead": 0}
    assert heartbeat(api, agent, timestamp=int(DAY_MOMENT) + 1).status == 200
    assert stats(api, keys.viewer)[1]["heartbeats"] == 2


def test_today_without_activity_is_zeros_not_404(api: ApiClient, keys: Keys) -> None:
    status, body = stats(api, keys.viewer)
    assert status == 200
    assert body["events_received"] == 0
    assert body["final"] is False


def test_past_day_before_its_rollup_shows_its_counters(api: ApiClient, keys: Keys) -> None:
    counters.increment("acme", {"notes_created": 2}, DAY_MOMENT)
    clock.set_clock(lambda: NEXT_MORNING - 120)  # 00:03, the rollup runs at 00:05
    status, body = stats(api, keys.viewer)
    assert status == 200
    assert body["notes_created"] == 2
    assert body["final"] is False


@pytest.mark.parametrize("day", ["2026-09-20", "2026-09-22", "1999-01-01"])
def test_a_day_without_data_is_404(api: ApiClient, keys: Keys, day: str) -> None:
    status, body = stats(api, keys.viewer, day=day)
    assert status == 404
    assert body["error"]["code"] == "not_found"  # type: ignore[index]


def test_another_tenants_figures_are_never_shown(api: ApiClient, keys: Keys) -> None:
    counters.increment("globex", {"events_received": 9}, DAY_MOMENT - 86_400)
    clock.set_clock(lambda: NEXT_MORNING)
    rollup.run("2026-09-20", inbox_summary=lambda tenant: (0, None))
    assert stats(api, keys.other_viewer, day="2026-09-20")[0] == 200
    assert stats(api, keys.viewer, day="2026-09-20")[0] == 404
    counters.increment("globex", {"events_received": 3}, NEXT_MORNING)
    _, mine = stats(api, keys.viewer, day="2026-09-22")
    assert mine["events_received"] == 0


@pytest.mark.parametrize("day", ["2026-9-21", "2026-02-30", "21-09-2026", "today", "2026-09-21 "])
def test_malformed_day_is_a_validation_error(api: ApiClient, keys: Keys, day: str) -> None:
    result = api.get("/stats", key=keys.viewer, query={"day": day})
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert result.json["error"]["details"][0]["field"] == "day"


def test_unknown_query_parameter_is_a_validation_error(api: ApiClient, keys: Keys) -> None:
    result = api.get("/stats", key=keys.viewer, query={"tenant": "globex"})
    assert result.status == 400
    assert result.error_code == "validation_error"


def test_stats_need_an_api_key(api: ApiClient) -> None:
    assert api.get("/stats", query={"day": DAY}).status == 401
