"""`dockhand stats` and `dockhand agents`: the tenant's daily figures and its agents.

Both use the HTTP helper of `tools.cli.snapshot` (stdlib urllib, `DOCKHAND_URL` and
`DOCKHAND_API_KEY`, else the running `make run`).  Tables are for people (colour only
on a terminal, and never with NO_COLOR set); `--json` is for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from tools.cli.snapshot import CliError, request

MAX_DAYS = 31
PAGE_LIMIT = 200
SPARKS = "▁▂▃▄▅▆▇█"
NO_DATA = "-"

WIDTH = 100  # tables fit in 100 columns: per-day columns are left out when they would not
TREND_MARKS = 46  # at most this many marks per trend: longer ranges are bucketed
# Keys of GET /stats answers that are not figures.
NOT_FIGURES = frozenset({"day", "final", "computed_at"})
STATUS_COLOURS = {"healthy": "32", "unhealthy": "33", "dead": "31"}  # green, yellow, red


def register(subparsers: Any) -> None:
    stats = subparsers.add_parser("stats", help="the tenant's daily figures (GET /stats)")
    stats.add_argument(
        "--days",
        type=_days,
        default=7,
        help=f"the last N UTC days, today included (7; max {MAX_DAYS})",
    )
    stats.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day of a range")
    stats.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (≤ 92 days)")
    stats.add_argument("--json", action="store_true", help="print JSON for scripts")
    stats.set_defaults(func=_stats)

    agents = subparsers.add_parser("agents", help="the tenant's agents (GET /agents)")
    agents.add_argument("--status", choices=("healthy", "unhealthy", "dead"))
    agents.add_argument("--json", action="store_true", help="print JSON for scripts")
    agents.set_defaults(func=_agents)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of days") from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DAYS}")
    return days


# ---------------------------------------------------------------- fetching


def get_json(path: str) -> Any:
    _, _, payload = request("GET", path)
    return json.loads(payload)


def last_days(count: int, today: date) -> list[str]:
    """The `count` UTC days ending today, oldest first."""
    return [(today - timedelta(days=back)).isoformat() for back in range(count - 1, -1, -1)]


def fetch_range(first: str, last: str) -> dict[str, Any]:
    """GET /stats?from&to: every day of the range in one request (zeros included)."""
    figures: dict[str, Any] = get_json(
        "/stats?" + urllib.parse.urlencode({"from": first, "to": last})
    )
    return figures


def fetch_stats(first: str, last: str, today: str) -> dict[str, Any]:
    """The counted figures of every day from `first` to `last` (GET /stats?from&to) and,
    when the range includes today, today's whole answer (GET /stats): its gauges (the
    inbox, the agents) exist only in a day's own answer."""
    found = fetch_range(first, last)
    found["today"] = get_json("/stats") if first <= today <= last else None
    return found


def fetch_agents(status: str | None) -> list[dict[str, Any]]:
    """Every agent of the tenant, following `next_cursor` to the last page."""
    query: dict[str, str] = {"limit": str(PAGE_LIMIT)}
    if status:
        query["status"] = status
    agents: list[dict[str, Any]] = []
    while True:
        page = get_json("/agents?" + urllib.parse.urlencode(query))
        agents.extend(page["items"])
        if not page.get("next_cursor"):
            return agents
        query["cursor"] = page["next_cursor"]


# ---------------------------------------------------------------- formatting


def sparkline(values: Sequence[float | None], marks: int = TREND_MARKS) -> str:
    """One block per value (per bucket of values, summed, when there are more than
    `marks`), scaled from zero to the largest; a value with no data is a space."""
    if len(values) > marks:
        size = -(-len(values) // marks)  # ceil
        buckets = [values[i : i + size] for i in range(0, len(values), size)]
        values = [None if all(v is None for v in b) else sum(v or 0 for v in b) for b in buckets]
    present = [v for v in values if v is not None]
    top = max(present, default=0)
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif top <= 0:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[round(max(value, 0) / top * (len(SPARKS) - 1))])
    return "".join(out)


def age(seconds: float) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago` (a clock ahead of ours reads `0s ago`)."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def heartbeat_age(agent: dict[str, Any], now: float) -> str:
    at = agent.get("last_heartbeat_at")
    if not at:
        return "never"
    moment = datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp()
    return age(now - moment)


class Style:
    """ANSI styling, or none at all when the output is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        return cls(stream.isatty() and "NO_COLOR" not in os.environ)

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled and code else text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], style: Style) -> str:
    """Left-aligned text columns, numbers right-aligned; widths ignore colour codes."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str], codes: Sequence[str]) -> str:
        parts = []
        for cell, width, code in zip(cells, widths, codes, strict=True):
            padded = cell.rjust(width) if _numeric(cell) else cell.ljust(width)
            parts.append(style(padded, code))
        return "  ".join(parts).rstrip()

    out = [line(headers, ["1"] * len(headers))]
    for row in rows:
        out.append(line(row, [_cell_code(cell) for cell in row]))
    return "\n".join(out)


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).isdigit() or cell == NO_DATA


def _cell_code(cell: str) -> str:
    if cell == NO_DATA:
        return "2"  # dim
    return STATUS_COLOURS.get(cell, "")


def figure_names(answer: dict[str, Any]) -> list[str]:
    """The figures of one GET /stats answer (a day's, or a range item), in the API's
    order; a nested object (agents) is one figure per key: `agents.healthy`."""
    names = []
    for key, value in answer.items():
        if key in NOT_FIGURES:
            continue
        if isinstance(value, dict):
            names += [f"{key}.{inner}" for inner in value]
        else:
            names.append(key)
    return names


def figure_of(answer: dict[str, Any] | None, name: str) -> Any:
    if answer is None:
        return None
    outer, _, inner = name.partition(".")
    value = answer.get(outer)
    return (value or {}).get(inner) if inner else value


def label(name: str) -> str:
    return name.replace(".", " ").replace("_", " ")


def stats_table(found: dict[str, Any], style: Style) -> str:
    """One row per figure: the counted ones per day (when the days fit in 100 columns),
    their total, best day and trend; then today's gauges.  A figure the API has no value
    for is `-`, the one rendering of "no data" (a day without activity counts 0, as the
    API says)."""
    items = found["items"]
    counted = figure_names(items[0]) if items else []
    rows = []
    for name in counted:
        values = [figure_of(item, name) for item in items]
        known = [v for v in values if v is not None]
        best = max(known, default=None)
        cells = [_figure(v) for v in values]
        total = sum(known) if known else None
        rows.append([label(name), *cells, _figure(total), _figure(best), sparkline(values)])
    days = [item["day"][5:] for item in items]
    text = table(["figure", *days, "total", "max/day", "trend"], rows, style)
    if max(len(line) for line in _plain(text)) > WIDTH:
        headers = ["figure", "total", "max/day", f"trend {items[0]['day']} .. {items[-1]['day']}"]
        text = table(headers, [[row[0], *row[-3:]] for row in rows], style)
    today = found.get("today")
    if today is not None:
        gauges = [name for name in figure_names(today) if name not in counted]
        lines = [[label(name), _figure(figure_of(today, name))] for name in gauges]
        text += "\n\n" + table([f"now ({today['day']})", "value"], lines, style)
    return text


def _plain(text: str) -> list[str]:
    import re

    return re.sub("\033\\[[0-9;]*m", "", text).splitlines()


def agents_table(agents: Sequence[dict[str, Any]], now: float, style: Style) -> str:
    headers = ["name", "status", "region", "last heartbeat", "cpu%", "mem%", "disk%", "queued",
               "done", "version", "agent_id"]  # fmt: skip
    rows = []
    for agent in agents:
        figures = agent.get("last_heartbeat") or {}
        rows.append(
            [
                agent["name"],
                agent["status"],
                agent.get("region") or NO_DATA,
                heartbeat_age(agent, now),
                *(
                    _figure(figures.get(k))
                    for k in ("cpu_percent", "memory_percent", "disk_percent")
                ),
                *(_figure(figures.get(k)) for k in ("jobs_queued", "jobs_completed")),
                figures.get("version") or NO_DATA,
                agent["agent_id"],
            ]
        )
    return table(headers, rows, style)


def _figure(value: Any) -> str:
    if value is None:
        return NO_DATA
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------- commands


def _now() -> float:
    """Wall-clock time; a seam so tests can pin "today" and heartbeat ages."""
    return time.time()


def _fail(message: str) -> int:
    print(f"dockhand: {message}", file=sys.stderr)
    return 1


def _stats(args: argparse.Namespace) -> int:
    today = datetime.fromtimestamp(_now(), tz=UTC).date()
    if args.first or args.last:
        if not (args.first and args.last):
            return _fail("give both --from and --to (YYYY-MM-DD)")
        first, last = args.first, args.last
    else:
        days = last_days(args.days, today)
        first, last = days[0], days[-1]
    try:
        found = fetch_stats(first, last, today.isoformat())
    except CliError as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        print(stats_table(found, Style.for_stream(sys.stdout)))
    return 0


def _agents(args: argparse.Namespace) -> int:
    try:
        agents = fetch_agents(args.status)
    except CliError as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps({"items": agents}, indent=2, ensure_ascii=False))
    elif not agents:
        print("no agents" + (f" with status {args.status}" if args.status else ""))
    else:
        print(agents_table(agents, _now(), Style.for_stream(sys.stdout)))
    return 0
