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
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from tools.cli.snapshot import CliError, request

MAX_DAYS = 31
PAGE_LIMIT = 200
SPARKS = "▁▂▃▄▅▆▇█"
NO_DATA = "-"

# The GET /stats figures, in the order the table shows them; agents are flattened.
STATS_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("events received", lambda f: f.get("events_received")),
    ("events duplicate", lambda f: f.get("events_duplicate")),
    ("events delivered", lambda f: f.get("events_delivered")),
    ("notes created", lambda f: f.get("notes_created")),
    ("snapshots created", lambda f: f.get("snapshots_created")),
    ("heartbeats", lambda f: f.get("heartbeats")),
    ("inbox pending", lambda f: f.get("inbox_pending")),
    ("oldest pending (s)", lambda f: f.get("inbox_oldest_pending_age_seconds")),
    ("agents healthy", lambda f: (f.get("agents") or {}).get("healthy")),
    ("agents unhealthy", lambda f: (f.get("agents") or {}).get("unhealthy")),
    ("agents dead", lambda f: (f.get("agents") or {}).get("dead")),
)
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


def fetch_stats(days: Sequence[str]) -> list[dict[str, Any]]:
    """[{"day", "figures": {...} | None}] — a 404 day has no figures, anything else fails."""
    found = []
    for day in days:
        try:
            figures = get_json("/stats?" + urllib.parse.urlencode({"day": day}))
        except CliError as error:
            if error.status != 404:
                raise
            figures = None
        found.append({"day": day, "figures": figures})
    return found


def fetch_range(first: str, last: str) -> dict[str, Any]:
    """GET /stats?from&to: every day of the range in one request (zeros included)."""
    figures: dict[str, Any] = get_json(
        "/stats?" + urllib.parse.urlencode({"from": first, "to": last})
    )
    return figures


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


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled from zero to the largest; a day with no data is a space."""
    present = [v for v in values if v is not None]
    top = max(present, default=0)
    marks = []
    for value in values:
        if value is None:
            marks.append(" ")
        elif top <= 0:
            marks.append(SPARKS[0])
        else:
            marks.append(SPARKS[round(max(value, 0) / top * (len(SPARKS) - 1))])
    return "".join(marks)


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


def stats_table(days: Sequence[dict[str, Any]], style: Style) -> str:
    headers = ["figure", *(d["day"][5:] for d in days), "trend"]
    rows = []
    for label, pick in STATS_ROWS:
        values = [pick(d["figures"]) if d["figures"] else None for d in days]
        cells = [NO_DATA if v is None else str(v) for v in values]
        rows.append([label, *cells, sparkline(values)])
    empty = [d["day"] for d in days if d["figures"] is None]
    note = f"\n{NO_DATA} no figures for that day (GET /stats answered 404)" if empty else ""
    return table(headers, rows, style) + note


def range_table(figures: dict[str, Any], style: Style) -> str:
    """One row per day (the counted figures), then the totals and a trend per column."""
    names = list(figures["totals"])
    headers = ["day", *(n.replace("_", " ") for n in names)]
    rows = [[item["day"], *(str(item[n]) for n in names)] for item in figures["items"]]
    rows.append(["total", *(str(figures["totals"][n]) for n in names)])
    trends = [sparkline([item[n] for item in figures["items"]]) for n in names]
    return table(headers, rows, style) + "\n" + "  ".join(["trend", *trends])


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
    if args.first or args.last:
        return _stats_range(args)
    days = last_days(args.days, datetime.fromtimestamp(_now(), tz=UTC).date())
    try:
        found = fetch_stats(days)
    except CliError as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps({"days": found}, indent=2, ensure_ascii=False))
    else:
        print(stats_table(found, Style.for_stream(sys.stdout)))
    return 0


def _stats_range(args: argparse.Namespace) -> int:
    if not (args.first and args.last):
        return _fail("give both --from and --to (YYYY-MM-DD)")
    try:
        figures = fetch_range(args.first, args.last)
    except CliError as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        print(range_table(figures, Style.for_stream(sys.stdout)))
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
