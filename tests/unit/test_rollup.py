"""The daily rollup: per-tenant figures from counters and gauges, stored once per
day with an overwrite, so retries and re-runs never double count."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.stats import rollup
from common.store import aws as clients
from common.store import counters, ddb
from handlers import rollup as rollup_handler
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import register

DAY = "2026-09-21"
DAY_MOMENT = 1_790_000_000.0  # 2026-09-21T14:13:20Z
NEXT_MORNING = 1_790_035_500.0  # 2026-09-22T00:05:00Z
EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture
def day_of_activity(api: ApiClient, keys: Keys) -> None:
    """acme and globex were busy on DAY; acme has two agents, one gone silent."""
    clock.set_clock(lambda: DAY_MOMENT)
    counters.increment(
        "acme",
        {"events_received": 5, "events_duplicate": 2, "events_delivered": 3, "heartbeats": 7},
        DAY_MOMENT,
    )
    counters.increment("acme", {"notes_created": 4, "snapshots_created": 1}, DAY_MOMENT + 60)
    counters.increment("globex", {"events_received": 1}, DAY_MOMENT)
    register(api, keys.creator, name="quiet")
    clock.set_clock(lambda: NEXT_MORNING - 60)
    register(api, keys.creator, name="busy")
    clock.set_clock(lambda: NEXT_MORNING)
    from common.agents import sweep as sweeping

    sweeping.sweep()  # "quiet" has been silent for hours: dead


def fake_inbox(tenant: str) -> tuple[int, str | None]:
    # acme has 3 pending events, the oldest received an hour before the rollup.
    return (3, "2026-09-21T23:05:00.000Z") if tenant == "acme" else (0, None)


def stored_rollups() -> dict[str, dict[str, Any]]:
    result = clients.dynamodb().query(
        TableName=settings().stats_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": ddb.value("T#acme#ROLLUP")},
    )
    items = [ddb.deserialize(raw) for raw in result["Items"]]
    return {str(item["sk"]): item for item in items}


@pytest.mark.usefixtures("day_of_activity")
def test_rollup_stores_each_tenants_figures() -> None:
    summary = rollup.run(DAY, inbox_summary=fake_inbox)
    assert summary.as_dict() == {"day": DAY, "tenants": 2, "failed": []}
    acme = rollup.stored("acme", DAY)
    assert acme is not None
    assert {k: v for k, v in acme.items() if k not in {"pk", "sk"}} == {
        "tenant": "acme",
        "day": DAY,
        "events_received": 5,
        "events_duplicate": 2,
        "events_delivered": 3,
        "events_leased": 0,
        "events_released": 0,
        "events_quarantined": 0,
        "notes_created": 4,
        "snapshots_created": 1,
        "heartbeats": 7,
        "deliveries_succeeded": 0,
        "deliveries_failed": 0,
        "deliveries_exhausted": 0,
        "jobs_succeeded": 0,
        "jobs_failed": 0,
        "inbox_pending": 3,
        "inbox_oldest_pending_age_seconds": 3600,
        "inbox_leased": 0,
        "agents": {"healthy": 1, "unhealthy": 0, "dead": 1},
        "computed_at": "2026-09-22T00:05:00.000Z",
    }
    globex = rollup.stored("globex", DAY)
    assert globex is not None
    assert globex["events_received"] == 1
    assert globex["notes_created"] == 0
    assert globex["inbox_oldest_pending_age_seconds"] == 0
    assert globex["agents"] == {"healthy": 0, "unhealthy": 0, "dead": 0}


@pytest.mark.usefixtures("day_of_activity")
def test_rerunning_a_day_gives_the_same_figures() -> None:
    rollup.run(DAY, inbox_summary=fake_inbox)
    first = stored_rollups()
    rollup.run(DAY, inbox_summary=fake_inbox)
    assert stored_rollups() == first
    assert list(first) == [DAY]  # one item per tenant and day, overwritten


@pytest.mark.usefixtures("day_of_activity")
def test_scheduled_run_rolls_the_day_before_its_schedule_time(
    monkeypatch: pytest.MonkeyPatch, aws_calls: Counter[str]
) -> None:
    monkeypatch.setattr(rollup, "_inbox_summary", fake_inbox)
    event = json.loads((EVENTS / "rollup_scheduled.json").read_text())
    event["time"] = "2026-09-22T00:05:00Z"
    clock.set_clock(lambda: NEXT_MORNING + 3 * 3600)  # a late EventBridge retry
    aws_calls.clear()
    assert rollup_handler.handler(event, None) == {"day": DAY, "tenants": 2, "failed": []}
    assert rollup.stored("acme", DAY) is not None
    # O(tenants): no scan, one PutItem per tenant.
    assert "dynamodb.Scan" not in aws_calls
    assert aws_calls["dynamodb.PutItem"] == 2


@pytest.mark.usefixtures("day_of_activity")
def test_backfill_event_rolls_the_named_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup, "_inbox_summary", fake_inbox)
    clock.set_clock(lambda: NEXT_MORNING + 30 * 86_400)  # a month later
    assert rollup_handler.handler({"day": DAY}, None)["tenants"] == 2
    assert rollup.stored("acme", DAY) is not None
    assert rollup_handler.handler({"day": "2026-09-20"}, None) == {
        "day": "2026-09-20",
        "tenants": 0,
        "failed": [],
    }


def test_sample_backfill_event_names_a_past_day() -> None:
    event = json.loads((EVENTS / "rollup_backfill.json").read_text())
    rollup.parse_day(event["day"])


@pytest.mark.parametrize("day", ["2026-9-21", "2026-02-30", "yesterday", "", "2026-09-21T00:00"])
def test_backfill_refuses_a_malformed_day(aws: None, day: str) -> None:
    with pytest.raises(ValueError, match="day"):
        rollup_handler.handler({"day": day}, None)


def test_backfill_refuses_a_day_not_over_yet(aws: None) -> None:
    clock.set_clock(lambda: DAY_MOMENT)
    for day in (DAY, "2026-09-22"):
        with pytest.raises(ValueError, match="not over yet"):
            rollup_handler.handler({"day": day}, None)


@pytest.mark.usefixtures("day_of_activity")
def test_one_failing_tenant_does_not_stop_the_others_but_fails_the_run() -> None:
    def inbox_down_for_globex(tenant: str) -> tuple[int, str | None]:
        if tenant == "globex":
            raise RuntimeError("throttled")
        return fake_inbox(tenant)

    with pytest.raises(rollup.RollupFailed, match="globex"):
        rollup.run(DAY, inbox_summary=inbox_down_for_globex)
    assert rollup.stored("acme", DAY) is not None
    assert rollup.stored("globex", DAY) is None


def test_rollup_reads_the_real_inbox_gauge(api: ApiClient, keys: Keys) -> None:
    clock.set_clock(lambda: DAY_MOMENT)
    for n in range(2):
        body = {"event_type": "build.done", "payload": {"n": n}}
        assert api.post("/events", key=keys.creator, json_body=body).status == 201
    clock.set_clock(lambda: NEXT_MORNING)
    rollup.run(DAY)
    acme = rollup.stored("acme", DAY)
    assert acme is not None
    assert acme["events_received"] == 2
    assert acme["inbox_pending"] == 2
    assert acme["inbox_oldest_pending_age_seconds"] == int(NEXT_MORNING - DAY_MOMENT)
