"""GET /stats?from&to: every day of a range (zeros included) with totals, as JSON or
CSV, in one batched read; bad ranges answer 400; `dockhand stats --from/--to`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import pytest

from common.runtime import clock
from common.stats import rollup
from common.store import counters
from tests.conftest import ApiClient, Keys

DAY_MOMENT = 1_790_000_000.0  # 2026-09-21T14:13:20Z (today in these tests)
ONE_DAY = 86_400
COUNTED = list(rollup.COUNTED)


@pytest.fixture(autouse=True)
def frozen(aws: None) -> None:
    clock.set_clock(lambda: DAY_MOMENT)


def stats(api: ApiClient, key: str, **query: str) -> Any:
    return api.get("/stats", key=key, query=query)


def zero(day: str, final: bool = False) -> dict[str, Any]:
    return {"day": day, **dict.fromkeys(COUNTED, 0), "final": final}


def seed_three_days() -> None:
    """09-18 rolled up (final), 09-20 counted but not rolled up, 09-21 (today) live."""
    counters.increment("acme", {"events_received": 5, "heartbeats": 2}, DAY_MOMENT - 3 * ONE_DAY)
    clock.set_clock(lambda: DAY_MOMENT - 2 * ONE_DAY)
    rollup.run("2026-09-18", inbox_summary=lambda tenant: (0, None))
    clock.set_clock(lambda: DAY_MOMENT)
    counters.increment("acme", {"notes_created": 3}, DAY_MOMENT - ONE_DAY)
    counters.increment("acme", {"events_received": 1}, DAY_MOMENT)
    counters.increment("acme", {"events_received": 1, "heartbeats": 4}, DAY_MOMENT + 60)


def test_range_has_every_day_oldest_first_with_zeros_and_totals(api: ApiClient, keys: Keys) -> None:
    seed_three_days()
    result = stats(api, keys.viewer, **{"from": "2026-09-17", "to": "2026-09-22"})
    assert result.status == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["items"] == [
        zero("2026-09-17"),
        {**zero("2026-09-18", final=True), "events_received": 5, "heartbeats": 2},
        zero("2026-09-19"),
        {**zero("2026-09-20"), "notes_created": 3},
        {**zero("2026-09-21"), "events_received": 2, "heartbeats": 4},
        zero("2026-09-22"),  # tomorrow: nothing yet
    ]
    assert result.json["totals"] == {
        **dict.fromkeys(COUNTED, 0),
        "events_received": 7,
        "heartbeats": 6,
        "notes_created": 3,
    }


def test_a_single_day_range_and_day_still_work(api: ApiClient, keys: Keys) -> None:
    seed_three_days()
    one = stats(api, keys.viewer, **{"from": "2026-09-21", "to": "2026-09-21"})
    assert one.status == 200
    assert [i["day"] for i in one.json["items"]] == ["2026-09-21"]
    day = stats(api, keys.viewer, day="2026-09-21")
    assert day.status == 200
    assert day.json["events_received"] == 2
    assert "items" not in day.json
    assert stats(api, keys.viewer, day="2026-09-19").status == 404  # unchanged


def test_a_92_day_range_is_two_requests(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    seed_three_days()
    stats(api, keys.viewer, day="2026-09-21")  # the key is cached from here on
    aws_calls.clear()
    result = stats(api, keys.viewer, **{"from": "2026-06-22", "to": "2026-09-21"})
    assert result.status == 200
    assert len(result.json["items"]) == 92
    assert result.json["totals"]["events_received"] == 7
    reads = {k: v for k, v in aws_calls.items() if k != "dynamodb.UpdateItem"}  # rate limit
    # One Query of the rollups, one BatchGetItem of the counters of the other days.
    assert reads == {"dynamodb.Query": 1, "dynamodb.BatchGetItem": 1}


def test_csv_is_a_header_and_one_row_per_day(api: ApiClient, keys: Keys) -> None:
    seed_three_days()
    result = stats(api, keys.viewer, **{"from": "2026-09-18", "to": "2026-09-21", "format": "csv"})
    assert result.status == 200
    assert result.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(result.text)))
    assert rows[0] == ["day", *COUNTED]
    assert [r[0] for r in rows[1:]] == ["2026-09-18", "2026-09-19", "2026-09-20", "2026-09-21"]
    assert rows[1][1 + COUNTED.index("events_received")] == "5"
    assert rows[3][1 + COUNTED.index("notes_created")] == "3"
    assert len(rows) == 5  # no totals row
    assert result.text.endswith("\r\n")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-06-21", "to": "2026-09-21"}, "to"),  # 93 days
        ({"from": "2026-09-21", "to": "2026-09-20"}, "to"),  # from after to
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2026-9-1", "to": "2026-09-21"}, "from"),
        ({"from": "2026-09-01", "to": "21.09.2026"}, "to"),
        ({"from": "", "to": "2026-09-21"}, "from"),
        ({"from": "2026-09-01", "to": "2026-09-21T00:00:00Z"}, "to"),
        ({"from": "2026-09-01"}, "to"),
        ({"to": "2026-09-01"}, "from"),
        ({"from": "2026-09-01", "to": "2026-09-02", "day": "2026-09-01"}, "day"),
        ({"from": "2026-09-01", "to": "2026-09-02", "format": "xml"}, "format"),
        ({"day": "2026-09-01", "format": "csv"}, "format"),
        ({"from": "2026-09-01", "to": "2026-09-02", "days": "3"}, "days"),
    ],
)
def test_bad_ranges_are_validation_errors(
    api: ApiClient, keys: Keys, query: dict[str, str], field: str
) -> None:
    result = stats(api, keys.viewer, **query)
    assert result.status == 400, result.text
    assert result.error_code == "validation_error"
    assert result.json["error"]["details"][0]["field"] == field


def test_92_days_is_the_largest_range(api: ApiClient, keys: Keys) -> None:
    largest = stats(api, keys.viewer, **{"from": "2026-06-22", "to": "2026-09-21"})
    assert largest.status == 200
    message = stats(api, keys.viewer, **{"from": "2026-06-21", "to": "2026-09-21"})
    assert message.json["error"]["details"][0]["message"] == (
        "a range is at most 92 days (this one is 93)"
    )


def test_a_range_is_the_callers_tenant_only(api: ApiClient, keys: Keys) -> None:
    seed_three_days()
    result = stats(api, keys.other_viewer, **{"from": "2026-09-17", "to": "2026-09-21"})
    assert result.status == 200
    assert result.json["items"] == [zero(f"2026-09-{d}") for d in range(17, 22)]
    assert stats(api, "nope", **{"from": "2026-09-17", "to": "2026-09-21"}).status == 401


def test_cli_range_is_one_request(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from urllib.parse import parse_qsl, urlsplit

    from tools.cli import main as cli
    from tools.cli import ops as cli_ops

    seed_three_days()
    calls: list[str] = []

    def request(method: str, path: str, body: Any = None) -> tuple[int, str, bytes]:
        calls.append(f"{method} {path}")
        parts = urlsplit(path)
        result = api.call(method, parts.path, key=keys.viewer, query=dict(parse_qsl(parts.query)))
        return result.status, "application/json", result.text.encode()

    monkeypatch.setattr(cli_ops, "request", request)
    assert cli.main(["stats", "--from", "2026-09-18", "--to", "2026-09-21", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["totals"]["events_received"] == 7
    assert calls == ["GET /stats?from=2026-09-18&to=2026-09-21"]

    assert cli.main(["stats", "--from", "2026-09-18", "--to", "2026-09-21"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "figure",
        "09-18",
        "09-19",
        "09-20",
        "09-21",
        "total",
        "max/day",
        "trend",
    ]
    received = next(line for line in lines if line.startswith("events received"))
    assert received.split()[2:8] == ["5", *received.split()[3:6], "7", "5"]
    assert sum(int(v) for v in received.split()[2:6]) == 7

    assert cli.main(["stats", "--from", "2026-09-18"]) == 1
    assert "give both --from and --to" in capsys.readouterr().err
