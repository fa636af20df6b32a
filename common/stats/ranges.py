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
from datetime import date, timedelta
from typing import Any

from common.runtime.config import settings
from common.stats import rollup
from common.store import counters, dynamo
from common.store.tables import PK, SK

MAX_RANGE_DAYS = 92
CSV_COLUMNS = ("day", *rollup.COUNTED)


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
    page_items = dynamo.query_all(
        settings().stats_table,
        "#pk = :pk AND #sk BETWEEN :first AND :last",
        names={"#pk": PK, "#sk": SK},
        values={":pk": f"T#{tenant}#ROLLUP", ":first": first, ":last": last},
        consistent=True,
    )
    return {str(item["day"]): item for item in page_items}


def range_figures(tenant: str, days: Sequence[str]) -> dict[str, Any]:
    """{"items": one per day, oldest first, zeros included; "totals": the sums}."""
    stored = _stored_rollups(tenant, days[0], days[-1])
    today = rollup.today()
    missing = [d for d in days if d not in stored and d <= today]
    counted = counters.read_days(tenant, missing) if missing else {}
    items = [_day(day, stored.get(day), counted.get(day)) for day in days]
    totals = {name: sum(int(item[name]) for item in items) for name in rollup.COUNTED}
    return {"items": items, "totals": totals}


def _day(
    day: str, stored: Mapping[str, Any] | None, counted: Mapping[str, int] | None
) -> dict[str, Any]:
    source: Mapping[str, Any] = stored if stored is not None else (counted or {})
    figures = {name: int(source.get(name) or 0) for name in rollup.COUNTED}
    return {"day": day, **figures, "final": stored is not None}


def as_csv(figures: Mapping[str, Any]) -> str:
    """A header row, then one row per day (no totals row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(CSV_COLUMNS)
    for item in figures["items"]:
        writer.writerow([item[column] for column in CSV_COLUMNS])
    return out.getvalue()


def days_before(last: date, count: int) -> tuple[str, str]:
    """(from, to) of the `count` days ending with `last` (the status page's sparklines)."""
    return (last - timedelta(days=count - 1)).isoformat(), last.isoformat()
