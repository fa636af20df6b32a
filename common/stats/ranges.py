"""`GET /stats?from=&to=`: the tenant's counted figures for every day of a range.

Two requests whatever the range (≤ 92 days): one Query of the tenant's rollups
(`T#<tenant>#ROLLUP`, sk between the two days) and one BatchGetItem of the day
counters of the days the rollup has not stored yet (today, and past days before the
nightly run) — never one request per day.  Days with no data are zeros, so a chart
has a point for every day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field, PrivateAttr, model_validator, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.config import settings
from common.runtime.errors import field_error
from common.runtime.models import Count, QueryModel, query_choice, query_date
from common.runtime.routedoc import Named
from common.stats import rollup
from common.store import counters, dynamo

MAX_RANGE_DAYS = 92
CSV_COLUMNS = ("day", *rollup.COUNTED)


# Named as its component: pydantic names a nested view's schema after its class, and
# StatsRangeView refers to this one.  The counted fields are COUNTED's names (see
# rollup.DayFiguresView).

_DATE_RULE = "must be a date, YYYY-MM-DD"


class StatsQuery(QueryModel):
    """GET /stats: one `day` (default today), or a range `from`..`to`; `format=csv` for
    ranges.  Which parameters go together, and whether a date exists, is checked here
    after the fields (OpenAPI cannot say it); `days` is then the range, else None."""

    day: Annotated[str, query_date(_DATE_RULE)] | None = None
    start: Annotated[str, query_date(_DATE_RULE)] | None = Field(default=None, alias="from")
    end: Annotated[str, query_date(_DATE_RULE)] | None = Field(default=None, alias="to")
    format: Annotated[str, query_choice(("json", "csv"))] = "json"
    _days: list[str] | None = PrivateAttr(default=None)
    _one_day: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _together(self) -> StatsQuery:
        # field_error is an ApiError, not a ValueError: pydantic lets it through as is,
        # so these answers keep their own field and message.
        if self.start is not None or self.end is not None:
            self._days = _checked_range(self)
            return self
        if self.format == "csv":
            raise field_error("format", "csv needs a range: from and to")
        self._one_day = self.day or rollup.today()  # absent means today
        try:
            rollup.parse_day(self._one_day)
        except ValueError:
            raise field_error("day", "must be a date, YYYY-MM-DD") from None
        return self

    @property
    def days(self) -> list[str] | None:
        """Every day of the range asked for, oldest first; None for one day."""
        return self._days

    @property
    def one_day(self) -> str:
        """The one day asked for (today when none was given), when no range was."""
        return self._one_day


def _checked_range(query: StatsQuery) -> list[str]:
    if query.day is not None:
        raise field_error("day", "give either day, or from and to")
    if query.start is None or query.end is None:
        raise field_error("from" if query.start is None else "to", "a range needs both from and to")
    try:
        return parse_range(query.start, query.end)
    except RangeError as error:
        raise field_error(error.field, str(error)) from None


@with_config(ConfigDict(extra="forbid"))
class RangeDay(TypedDict):
    day: rollup.Day
    events_received: Count
    events_duplicate: Count
    events_delivered: Count
    events_leased: Count
    events_released: Count
    events_quarantined: Count
    notes_created: Count
    snapshots_created: Count
    heartbeats: Count
    deliveries_succeeded: Count
    deliveries_failed: Count
    deliveries_exhausted: Count
    jobs_succeeded: Count
    jobs_failed: Count
    final: bool


@with_config(ConfigDict(extra="forbid", title="StatsRange"))
class StatsRangeView(TypedDict):
    """One item per day from `from` to `to`, oldest first; days without data are zeros."""

    items: list[RangeDay]
    totals: dict[str, Count]


class RangeError(ValueError):
    """A bad range; `field` names the query parameter to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_range(first: str, last: str) -> list[str]:
    """Every day from `first` to `last`, both included, oldest first."""
    try:
        start = rollup.parse_day(first)
    except ValueError:
        raise RangeError("from", "must be a date, YYYY-MM-DD") from None
    try:
        end = rollup.parse_day(last)
    except ValueError:
        raise RangeError("to", "must be a date, YYYY-MM-DD") from None
    if end < start:
        raise RangeError("to", "must not be before from")
    count = (end - start).days + 1
    if count > MAX_RANGE_DAYS:
        raise RangeError("to", f"a range is at most {MAX_RANGE_DAYS} days (this one is {count})")
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


def _stored_rollups(tenant: str, first: str, last: str) -> dict[str, dict[str, Any]]:
    page_items = dynamo.query_partition_all(
        settings().stats_table,
        tenant,
        f"T#{tenant}#ROLLUP",
        sort=dynamo.SortKey.between(first, last),
        consistent=True,
    )
    return {str(item["day"]): item for item in page_items}


def range_figures(tenant: str, days: Sequence[str]) -> StatsRangeView:
    """Every day's figures, oldest first, zeros included, and their sums."""
    stored = _stored_rollups(tenant, days[0], days[-1])
    today = rollup.today()
    missing = [d for d in days if d not in stored and d <= today]
    counted = counters.read_days(tenant, missing) if missing else {}
    counts = {day: _counts(stored.get(day), counted.get(day)) for day in days}
    totals = {name: sum(c[name] for c in counts.values()) for name in rollup.COUNTED}
    items = [_day(day, counts[day], final=day in stored) for day in days]
    return {"items": items, "totals": totals}


def _counts(stored: Mapping[str, Any] | None, counted: Mapping[str, int] | None) -> dict[str, int]:
    source: Mapping[str, Any] = stored if stored is not None else (counted or {})
    return {name: int(source.get(name) or 0) for name in rollup.COUNTED}


def _day(day: str, counts: Mapping[str, int], *, final: bool) -> RangeDay:
    return {
        "day": day,
        "events_received": counts["events_received"],
        "events_duplicate": counts["events_duplicate"],
        "events_delivered": counts["events_delivered"],
        "events_leased": counts["events_leased"],
        "events_released": counts["events_released"],
        "events_quarantined": counts["events_quarantined"],
        "notes_created": counts["notes_created"],
        "snapshots_created": counts["snapshots_created"],
        "heartbeats": counts["heartbeats"],
        "deliveries_succeeded": counts["deliveries_succeeded"],
        "deliveries_failed": counts["deliveries_failed"],
        "deliveries_exhausted": counts["deliveries_exhausted"],
        "jobs_succeeded": counts["jobs_succeeded"],
        "jobs_failed": counts["jobs_failed"],
        "final": final,
    }


def as_csv(figures: Mapping[str, Any]) -> str:
    """A header row, then one row per day (no totals row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(CSV_COLUMNS)
    for item in figures["items"]:
        writer.writerow([item[column] for column in CSV_COLUMNS])
    return out.getvalue()


# GET /stats answers one day's figures or a range's (its OpenAPI response).
STATS_ANSWER = Named(
    "StatsAnswer",
    {
        "anyOf": [
            {"$ref": "#/components/schemas/DayFigures"},
            {"$ref": "#/components/schemas/StatsRange"},
        ]
    },
    refers_to={"DayFigures": rollup.DayFiguresView, "StatsRange": StatsRangeView},
)
