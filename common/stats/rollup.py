"""Daily figures per tenant: the rollup that stores them and the reads behind GET /stats.

Sources, none of which scans anything:
- day counters (`common.store.counters`, kept by every writer inside its own transaction):
  events_received, events_duplicate, events_delivered, notes_created,
  snapshots_created, heartbeats — one Query per counter shard finds every active
  tenant of a day;
- at rollup time: the inbox gauge (`common.triggers.inbox.listing.summary`) and the tenant's
  agents by status (one projected Query of its agent list, gsi1).

One item per tenant and day (`T#<tenant>#ROLLUP` / `<day>`) written with PutItem, so
re-running a day overwrites it with the same counter figures instead of adding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.agents import registry as agents
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.models import Count, Time
from common.runtime.observability import logger
from common.store import counters, dynamo
from common.store.tables import PK, SK

COUNTED = (
    "events_received",
    "events_duplicate",
    "events_delivered",
    "events_leased",
    "events_released",
    "events_quarantined",
    "notes_created",
    "snapshots_created",
    "heartbeats",
    # Push delivery (common/triggers/delivery/): attempts, by outcome.
    "deliveries_succeeded",
    "deliveries_failed",
    "deliveries_exhausted",
    # Agents as workers (common/agents/work.py): acknowledged jobs, by outcome.
    "jobs_succeeded",
    "jobs_failed",
)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


# The counted fields are COUNTED's names, written out so mypy checks every dict built
# here (tests/unit/test_stats_views.py keeps the two lists equal).  A figure is null in
# a rollup stored before it was counted.
@with_config(ConfigDict(extra="forbid", title="DayFigures"))
class DayFiguresView(TypedDict):
    day: Day
    events_received: Count | None
    events_duplicate: Count | None
    events_delivered: Count | None
    events_leased: Count | None
    events_released: Count | None
    events_quarantined: Count | None
    notes_created: Count | None
    snapshots_created: Count | None
    heartbeats: Count | None
    deliveries_succeeded: Count | None
    deliveries_failed: Count | None
    deliveries_exhausted: Count | None
    jobs_succeeded: Count | None
    jobs_failed: Count | None
    inbox_pending: Count | None
    inbox_oldest_pending_age_seconds: Annotated[float, Field(ge=0)] | None
    inbox_leased: Count | None
    agents: dict[str, Count] | None
    computed_at: Time | None
    final: bool


# (pending events, received_at of the oldest pending one | None) of a tenant.
InboxSummary = Callable[[str], tuple[int, str | None]]


def _inbox_summary(tenant: str) -> tuple[int, str | None]:
    from common.triggers.inbox import listing, place  # the triggers area owns the inbox

    return listing.summary(place.inbox(tenant))


def _inbox_leased(tenant: str) -> int:
    from common.triggers.inbox import listing, place  # the triggers area owns leases

    return listing.leased_count(place.inbox(tenant))


def parse_day(text: str) -> date:
    """A YYYY-MM-DD calendar day; ValueError otherwise."""
    if not _DAY.fullmatch(text):
        raise ValueError("day must be YYYY-MM-DD")
    return date.fromisoformat(text)


def today() -> str:
    return clock.day_of(clock.now())


def _rollup_key(tenant: str, day: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#ROLLUP", SK: day}


def live_figures(
    tenant: str,
    day: str,
    day_counters: Mapping[str, int] | None,
    inbox_summary: InboxSummary | None = None,
) -> dict[str, Any]:
    """The day's counters plus the tenant's inbox and agents as they are now."""
    now = clock.now()
    pending, oldest = (inbox_summary or _inbox_summary)(tenant)
    # Like SQS's ApproximateAgeOfOldestMessage: 0 when nothing is pending.
    oldest_age = max(0, int(now - clock.parse_iso(oldest).timestamp())) if oldest else 0
    counted = day_counters or {}
    return {
        "day": day,
        **{name: int(counted.get(name, 0)) for name in COUNTED},
        "inbox_pending": pending,
        "inbox_oldest_pending_age_seconds": oldest_age,
        "inbox_leased": _inbox_leased(tenant),
        "agents": agents.count_by_status(tenant),
        "computed_at": clock.iso(now),
    }


# ---------------------------------------------------------------- the rollup


@dataclass
class RollupSummary:
    day: str
    tenants: int = 0
    failed: list[str] = field(default_factory=list)
    # Over the tenants rolled up, as they were at rollup time: the dashboard's gauges
    # (handlers/rollup.py publishes them; common/runtime/catalogue.py lists them).
    inbox_pending: int = 0
    inbox_oldest_pending_age_seconds: int = 0
    agents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "tenants": self.tenants, "failed": self.failed}

    def add(self, figures: Mapping[str, Any]) -> None:
        self.inbox_pending += int(figures.get("inbox_pending") or 0)
        oldest = int(figures.get("inbox_oldest_pending_age_seconds") or 0)
        self.inbox_oldest_pending_age_seconds = max(self.inbox_oldest_pending_age_seconds, oldest)
        for status, count in (figures.get("agents") or {}).items():
            self.agents[status] = self.agents.get(status, 0) + int(count)


class RollupFailed(RuntimeError):
    """Some tenants could not be rolled up; raised so EventBridge retries the run."""


def previous_day(moment: float) -> str:
    return (datetime.fromtimestamp(moment, tz=UTC).date() - timedelta(days=1)).isoformat()


def day_to_roll(event: Mapping[str, Any]) -> str:
    """The day an invocation asks for: `{"day": ...}` (backfill), else the day before
    the schedule's own `time` (so a late retry still rolls the intended day)."""
    requested = event.get("day")
    if requested is None and isinstance(event.get("detail"), Mapping):
        requested = event["detail"].get("day")
    if requested is not None:
        day = parse_day(str(requested))
        if day.isoformat() >= today():
            raise ValueError(f"day {day.isoformat()} is not over yet; roll up past days only")
        return day.isoformat()
    scheduled = event.get("time")
    moment = clock.parse_iso(str(scheduled)).timestamp() if scheduled else clock.now()
    return previous_day(moment)


def run(day: str, inbox_summary: InboxSummary | None = None) -> RollupSummary:
    """Roll up every tenant with counters on `day`; failures are logged, then raised."""
    summary = RollupSummary(day=day)
    for tenant, day_counters in counters.tenants_for_day(day):
        try:
            figures = live_figures(tenant, day, day_counters, inbox_summary)
            _store(tenant, figures)
            summary.add(figures)
        except Exception:
            logger.exception("rollup of a tenant failed", extra={"tenant": tenant, "day": day})
            summary.failed.append(tenant)
            continue
        summary.tenants += 1
    if summary.failed:
        raise RollupFailed(f"{len(summary.failed)} tenant(s) failed for {day}: {summary.failed}")
    return summary


def _store(tenant: str, figures: Mapping[str, Any]) -> None:
    # PutItem overwrites: a re-run or backfill replaces the day, never adds to it.
    item = {**_rollup_key(tenant, figures["day"]), "tenant": tenant, **figures}
    dynamo.put(settings().stats_table, item)


# ---------------------------------------------------------------- GET /stats


def stored(tenant: str, day: str) -> dict[str, Any] | None:
    return dynamo.get(settings().stats_table, _rollup_key(tenant, day))


def figures_for(tenant: str, day: str) -> DayFiguresView | None:
    """The tenant's figures for `day`: the stored rollup (final), else live figures for
    today or for a past day whose rollup has not run yet; None when there is no data."""
    item = stored(tenant, day)
    if item is not None:
        return _view(item, final=True)
    is_today = day == today()
    if day > today():
        return None
    day_counters = counters.read_day(tenant, day)
    if day_counters is None and not is_today:
        return None
    return _view(live_figures(tenant, day, day_counters), final=False)


def _view(figures: Mapping[str, Any], final: bool) -> DayFiguresView:
    return {
        "day": figures["day"],
        "events_received": figures.get("events_received"),
        "events_duplicate": figures.get("events_duplicate"),
        "events_delivered": figures.get("events_delivered"),
        "events_leased": figures.get("events_leased"),
        "events_released": figures.get("events_released"),
        "events_quarantined": figures.get("events_quarantined"),
        "notes_created": figures.get("notes_created"),
        "snapshots_created": figures.get("snapshots_created"),
        "heartbeats": figures.get("heartbeats"),
        "deliveries_succeeded": figures.get("deliveries_succeeded"),
        "deliveries_failed": figures.get("deliveries_failed"),
        "deliveries_exhausted": figures.get("deliveries_exhausted"),
        "jobs_succeeded": figures.get("jobs_succeeded"),
        "jobs_failed": figures.get("jobs_failed"),
        "inbox_pending": figures.get("inbox_pending"),
        "inbox_oldest_pending_age_seconds": figures.get("inbox_oldest_pending_age_seconds"),
        "inbox_leased": figures.get("inbox_leased"),
        "agents": figures.get("agents"),
        "computed_at": figures.get("computed_at"),
        "final": final,
    }
