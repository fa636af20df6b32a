"""`dockhand stats` and `dockhand agents` against the real handlers, in process.

The CLI's HTTP call is routed into the `api` fixture (real handlers on moto), so
these tests see exactly what the API answers; the sweeper runs with a controlled
clock to make an agent dead.  tests/e2e/test_cli_ops_e2e.py does it over HTTP.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from common.runtime import clock
from handlers import sweeper
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import heartbeat, register
from tools.cli import main as cli
from tools.cli import ops as cli_ops
from tools.cli.snapshot import CliError, _describe_error

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
TODAY = "2026-09-21"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds_after_t0: float) -> None:
        self.now = T0 + seconds_after_t0


@pytest.fixture
def time_(aws: None, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One controlled clock for the handlers and the CLI."""
    controlled = Clock()
    clock.set_clock(lambda: controlled.now)
    monkeypatch.setattr(cli_ops, "_now", lambda: controlled.now)
    return controlled


Use = Callable[[str], list[str]]


@pytest.fixture
def as_key(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> Use:
    """`as_key(key)` points the CLI at the in-process API with that key; returns the
    list of request paths the CLI makes."""
    calls: list[str] = []

    def use(key: str) -> list[str]:
        def request(method: str, path: str, body: Any = None) -> tuple[int, str, bytes]:
            calls.append(f"{method} {path}")
            parts = urlsplit(path)
            result = api.call(method, parts.path, key=key, query=dict(parse_qsl(parts.query)))
            if result.status >= 400:
                raise CliError(_describe_error(result.status, result.text.encode()), result.status)
            return result.status, result.headers.get("content-type", ""), result.text.encode()

        monkeypatch.setattr(cli_ops, "request", request)
        return calls

    return use


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def post_event(api: ApiClient, key: str, n: int) -> None:
    result = api.post("/events", key=key, json_body={"event_type": "t", "payload": {"n": n}})
    assert result.status == 201, result.text


# ---------------------------------------------------------------- formatting


def test_sparkline_scales_from_zero_and_leaves_empty_days_blank() -> None:
    assert cli_ops.sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    assert cli_ops.sparkline([None, 3, None, 3]) == " █ █"
    assert cli_ops.sparkline([0, 0]) == "▁▁"
    assert cli_ops.sparkline([None, None]) == "  "
    assert cli_ops.sparkline([]) == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "0s ago"), (0, "0s ago"), (12, "12s ago"), (59.9, "59s ago"), (60, "1m ago"),
     (3599, "59m ago"), (3600, "1h ago"), (2 * 86400 + 5, "2d ago")],
)  # fmt: skip
def test_age_reads_like_a_person_would_say_it(seconds: float, text: str) -> None:
    assert cli_ops.age(seconds) == text


def test_last_days_end_today_oldest_first() -> None:
    from datetime import date

    assert cli_ops.last_days(3, date(2026, 3, 1)) == ["2026-02-27", "2026-02-28", "2026-03-01"]


def test_colour_only_when_asked_and_widths_ignore_it() -> None:
    agents = [{"name": "a", "status": "dead", "agent_id": "x", "last_heartbeat_at": None}]
    plain = cli_ops.agents_table(agents, T0, cli_ops.Style(False))
    coloured = cli_ops.agents_table(agents, T0, cli_ops.Style(True))
    assert "\033[" not in plain
    assert "\033[31mdead" in coloured
    strip = coloured.replace("\033[0m", "")
    for code in ("\033[1m", "\033[31m", "\033[2m"):
        strip = strip.replace(code, "")
    assert strip == plain


def test_no_colour_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli_ops.Style.for_stream(io.StringIO()).enabled is False
    assert cli_ops.Style.for_stream(Tty()).enabled is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli_ops.Style.for_stream(Tty()).enabled is False


@pytest.mark.parametrize("days", ["0", "32", "x", "-1"])
def test_days_out_of_range_is_a_usage_error(days: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["stats", "--days", days])
    assert exit_.value.code == 2
    assert "--days" in capsys.readouterr().err


# ---------------------------------------------------------------- dockhand stats


def test_stats_json_is_the_range_and_todays_answer(
    api: ApiClient, keys: Keys, time_: Clock, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    post_event(api, keys.creator, 1)
    post_event(api, keys.creator, 2)
    calls = as_key(keys.viewer)
    code, out, _ = run(capsys, "stats", "--days", "3", "--json")
    assert code == 0
    found = json.loads(out)
    assert [d["day"] for d in found["items"]] == ["2026-09-19", "2026-09-20", TODAY]
    assert [d["events_received"] for d in found["items"]] == [0, 0, 2]
    assert found["totals"]["events_received"] == 2
    assert found["today"]["inbox_pending"] == 2
    assert calls == ["GET /stats?from=2026-09-19&to=2026-09-21", "GET /stats"]


def test_stats_table_shows_every_figure_the_api_returns(
    api: ApiClient, keys: Keys, time_: Clock, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    post_event(api, keys.creator, 1)
    as_key(keys.viewer)
    code, out, _ = run(capsys, "stats", "--days", "2")
    assert code == 0
    # Every figure of both answers, as the API names them (not a hand-written list).
    day = api.call("GET", "/stats", key=keys.viewer).json
    items = api.call(
        "GET", "/stats", key=keys.viewer, query={"from": "2026-09-20", "to": TODAY}
    ).json["items"]
    names = cli_ops.figure_names(day) + cli_ops.figure_names(items[0])
    assert {"events_leased", "deliveries_failed", "agents.dead", "inbox_leased"} <= set(names)
    labels = {re.split(r"\s{2,}", line.strip())[0] for line in out.splitlines()}
    for name in names:
        assert cli_ops.label(name) in labels, (name, out)
    lines = out.splitlines()
    assert lines[0].split() == ["figure", "09-20", "09-21", "total", "max/day", "trend"]
    received = next(line for line in lines if line.startswith("events received"))
    assert received.split()[-5:] == ["0", "1", "1", "1", "▁█"]  # a quiet day counts 0
    assert "\033[" not in out  # captured output is not a terminal


@pytest.mark.parametrize("args", [["--days", "31"], ["--from", "2026-06-22", "--to", TODAY]])
def test_stats_tables_fit_in_100_columns(  # noqa: PLR0917 - fixtures
    args: list[str],
    api: ApiClient,
    keys: Keys,
    time_: Clock,
    as_key: Use,
    capsys: pytest.CaptureFixture[str],
) -> None:
    post_event(api, keys.creator, 1)
    as_key(keys.viewer)
    code, out, _ = run(capsys, "stats", *args)
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= 100, out
    received = next(line for line in out.splitlines() if line.startswith("events received"))
    assert received.split()[2:4] == ["1", "1"]  # total, best day
    assert "agents dead" in out


def test_no_data_has_one_rendering() -> None:
    found = {
        "items": [{"day": "2026-09-20", "events_received": None, "final": True}],
        "totals": {},
        "today": None,
    }
    out = cli_ops.stats_table(found, cli_ops.Style(False))
    assert out.splitlines()[1].split() == ["events", "received", "-", "-", "-"]
    assert cli_ops.sparkline(list(range(92)), marks=46) == cli_ops.sparkline(
        [2 * n + (2 * n + 1) for n in range(46)]
    )


def test_stats_are_the_callers_tenant_only(
    api: ApiClient, keys: Keys, time_: Clock, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    post_event(api, keys.creator, 1)
    as_key(keys.other_viewer)
    code, out, _ = run(capsys, "stats", "--days", "1", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["items"][0]["events_received"] == 0
    assert found["today"]["events_received"] == 0


def test_stats_fail_clearly_on_other_http_errors(
    time_: Clock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def busy(method: str, path: str, body: Any = None) -> tuple[int, str, bytes]:
        raise CliError("HTTP 503 service_unavailable: Try again.", 503)

    monkeypatch.setattr(cli_ops, "request", busy)
    code, out, err = run(capsys, "stats")
    assert code == 1
    assert out == ""
    assert err == "dockhand: HTTP 503 service_unavailable: Try again.\n"


def test_a_bad_key_exits_1_without_echoing_the_key(
    keys: Keys, time_: Clock, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    as_key("dk_nope_secretsecret")
    code, out, err = run(capsys, "stats")
    assert code == 1
    assert out == ""
    assert err.startswith("dockhand: HTTP 401 unauthorized")
    assert "secretsecret" not in err


# ---------------------------------------------------------------- dockhand agents


@pytest.fixture
def fleet(api: ApiClient, keys: Keys, time_: Clock) -> dict[str, dict[str, Any]]:
    """`alive` heartbeats 12 s before now; `gone` never did, and the sweeper (with the
    controlled clock) has marked it dead."""
    alive = register(api, keys.creator, "alive", region="eu-west-1")
    gone = register(api, keys.creator, "gone")
    time_.at(700)
    assert heartbeat(api, alive).status == 200
    summary = sweeper.handler({"id": "evt-1"}, None)
    assert summary["marked_dead"] == 1
    time_.at(712)
    return {"alive": alive, "gone": gone}


def test_agents_json_lists_status_region_and_last_figures(
    fleet: dict[str, Any], keys: Keys, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    as_key(keys.viewer)
    code, out, _ = run(capsys, "agents", "--json")
    assert code == 0
    by_name = {a["name"]: a for a in json.loads(out)["items"]}
    assert by_name["alive"]["status"] == "healthy"
    assert by_name["alive"]["region"] == "eu-west-1"
    assert by_name["alive"]["last_heartbeat"]["jobs_completed"] == 120
    assert by_name["gone"]["status"] == "dead"
    assert by_name["gone"]["last_heartbeat_at"] is None
    assert "secret" not in out


def test_agents_table_shows_heartbeat_age_and_dead_agents(
    fleet: dict[str, Any], keys: Keys, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    as_key(keys.viewer)
    code, out, _ = run(capsys, "agents")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["name", "status", "region", "last", "heartbeat"]
    alive = next(r for r in rows if r.startswith("alive"))
    gone = next(r for r in rows if r.startswith("gone"))
    assert alive.split()[:5] == ["alive", "healthy", "eu-west-1", "12s", "ago"]
    assert "12.5" in alive  # cpu_percent of the last heartbeat
    assert "1.4.2" in alive
    assert gone.split()[:4] == ["gone", "dead", "-", "never"]


def test_agents_status_filter_is_the_api_filter(
    fleet: dict[str, Any], keys: Keys, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = as_key(keys.viewer)
    code, out, _ = run(capsys, "agents", "--status", "dead", "--json")
    assert code == 0
    assert [a["name"] for a in json.loads(out)["items"]] == ["gone"]
    assert calls == ["GET /agents?limit=200&status=dead"]


def test_agents_follow_next_cursor_to_the_last_page(
    fleet: dict[str, Any],
    keys: Keys,
    as_key: Use,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli_ops, "PAGE_LIMIT", 1)
    calls = as_key(keys.viewer)
    code, out, _ = run(capsys, "agents", "--json")
    assert code == 0
    assert sorted(a["name"] for a in json.loads(out)["items"]) == ["alive", "gone"]
    assert len(calls) >= 2
    assert "cursor=" in calls[1]


def test_another_tenant_sees_no_agents(
    fleet: dict[str, Any], keys: Keys, as_key: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    as_key(keys.other_viewer)
    assert run(capsys, "agents") == (0, "no agents\n", "")
    assert run(capsys, "agents", "--status", "dead") == (0, "no agents with status dead\n", "")
