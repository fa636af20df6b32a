"""`make invoke` and the sample events in tests/events/ it runs on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.cli import localstate
from tools.local import apigw, infra_model, invoke
from tools.local.coldstate import reset_runtime

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
HTTP_SAMPLES = sorted(p for p in EVENTS.glob("*.json") if "routeKey" in json.loads(p.read_text()))
SCHEDULED_SAMPLES = sorted(EVENTS.glob("*_scheduled.json"))


def load(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


@pytest.fixture
def no_running_gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Invoke must use its own in-process mock, not a developer's `make run`."""
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path)
    localstate.forget()
    monkeypatch.delenv("DOCKHAND_API_KEY", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after: invoke sets them
    reset_runtime()
    yield
    reset_runtime()


def run_invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.local.invoke", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def isolated_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["DOCKHAND_STATE_DIR"] = str(tmp_path)  # no running gateway to find
    return env


def test_there_are_http_samples() -> None:
    assert len(HTTP_SAMPLES) >= len(infra_model.route_table())


@pytest.mark.parametrize("path", HTTP_SAMPLES, ids=lambda p: p.name)
def test_sample_event_matches_a_terraform_route(path: Path) -> None:
    event = load(path)
    context = event["requestContext"]

    assert event["version"] == "2.0"
    assert event["routeKey"] in infra_model.route_table()
    assert context["routeKey"] == event["routeKey"]
    matched = apigw.match_route(context["http"]["method"], event["rawPath"])
    assert matched == (event["routeKey"], event.get("pathParameters", {}))
    assert all(name == name.lower() for name in event["headers"])


@pytest.mark.parametrize("path", HTTP_SAMPLES, ids=lambda p: p.name)
def test_sample_bodies_are_json_objects_sent_as_json(path: Path) -> None:
    event = load(path)
    if "body" not in event:
        assert event["requestContext"]["http"]["method"] in {"GET", "DELETE"}
        return
    assert event["isBase64Encoded"] is False
    assert event["headers"]["content-type"] == "application/json"
    assert isinstance(json.loads(event["body"]), dict)
    assert int(event["headers"]["content-length"]) == len(event["body"].encode())


def test_every_route_has_a_sample_event() -> None:
    covered = {load(p)["routeKey"] for p in HTTP_SAMPLES}

    assert covered == set(infra_model.route_table())


def test_every_scheduled_function_has_a_scheduled_sample() -> None:
    scheduled = {n for n, f in infra_model.functions().items() if f.schedule}

    assert {p.name.removesuffix("_scheduled.json") for p in SCHEDULED_SAMPLES} == scheduled
    for path in SCHEDULED_SAMPLES:
        event = load(path)
        assert event["source"] == "aws.events"
        assert event["detail-type"] == "Scheduled Event"
        assert event["time"].endswith("Z")
        assert event["resources"][0].startswith("arn:aws:events:")


def test_rollup_backfill_sample_names_a_day() -> None:
    assert load(EVENTS / "rollup_backfill.json") == {"day": "2026-11-22"}


def test_authenticated_samples_use_the_key_placeholder() -> None:
    for path in HTTP_SAMPLES:
        authorization = load(path)["headers"].get("authorization")
        assert authorization in {None, "Bearer $DOCKHAND_API_KEY"}, path.name


def test_invoke_prints_the_response_json_on_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    result = run_invoke("status", "tests/events/status_get.json", env=isolated_env(tmp_path))

    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)  # stdout holds the response only
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"
    assert '"message":"request"' in result.stderr  # the function's own log line


def test_unknown_function_fails_clearly(tmp_path: Path) -> None:
    result = run_invoke("nope", "tests/events/status_get.json", env=isolated_env(tmp_path))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown function 'nope'" in result.stderr
    assert "events" in result.stderr
    assert "status" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("no_running_gateway")
def test_placeholder_becomes_a_working_creator_key_in_the_in_process_mock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = invoke.main(["status", str(EVENTS / "stats_get.json")])

    response = json.loads(capsys.readouterr().out)
    assert code == 0
    assert response["statusCode"] not in {401, 403}


@pytest.mark.usefixtures("no_running_gateway")
def test_the_stats_sample_asks_for_today_and_gets_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime

    assert "$TODAY" in load(EVENTS / "stats_get.json")["rawQueryString"]

    code = invoke.main(["status", str(EVENTS / "stats_get.json")])

    response = json.loads(capsys.readouterr().out)
    assert code == 0
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["day"] == datetime.now(UTC).date().isoformat()


def test_fill_dates_replaces_today_everywhere_and_nothing_else() -> None:
    event = {
        "q": "day=$TODAY",
        "p": {"day": "$TODAY"},
        "l": ["$TODAY", 3],
        "k": "$DOCKHAND_API_KEY",
    }

    assert invoke.fill_dates(event, "2030-01-02") == {
        "q": "day=2030-01-02",
        "p": {"day": "2030-01-02"},
        "l": ["2030-01-02", 3],
        "k": "$DOCKHAND_API_KEY",
    }


@pytest.mark.usefixtures("no_running_gateway")
def test_dockhand_api_key_from_the_environment_wins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_API_KEY", "dk_0000000000000000_" + "x" * 43)

    code = invoke.main(["status", str(EVENTS / "stats_get.json")])

    response = json.loads(capsys.readouterr().out)
    assert code == 0  # the function returned: any HTTP status is a success for invoke
    assert response["statusCode"] == 401


@pytest.mark.usefixtures("no_running_gateway")
def test_a_raising_handler_exits_1_with_the_traceback_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom in handler")

    monkeypatch.setattr(invoke.FunctionLoader, "handler", lambda self, fn: broken)

    code = invoke.main(["status", str(EVENTS / "status_get.json")])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "boom in handler" in captured.err


@pytest.mark.usefixtures("no_running_gateway")
def test_scheduled_function_without_event_gets_a_fresh_scheduled_event(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(
        invoke.FunctionLoader, "handler", lambda self, fn: lambda e, c: seen.append(e) or {}
    )

    assert invoke.main(["sweeper"]) == 0

    assert seen[0]["detail-type"] == "Scheduled Event"
    assert seen[0]["resources"][0].endswith("rule/dockhand-sweeper-schedule")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events"], "give an event file"),
        (["status", "tests/events/does-not-exist.json"], "cannot read"),
        (["status", "pyproject.toml"], "is not JSON"),
    ],
)
@pytest.mark.usefixtures("no_running_gateway")
def test_usage_errors_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(REPO)

    assert invoke.main(args) == 2

    assert message in capsys.readouterr().err


def test_make_invoke_sweeper_prints_no_powertools_warning(tmp_path: Path) -> None:
    """`make invoke FN=sweeper` on a quiet tenant counts nothing: nothing is flushed,
    and powertools' "No application metrics to publish" warning is not printed (#26)."""
    env = {**isolated_env(tmp_path), "POWERTOOLS_METRICS_DISABLED": "false"}
    result = run_invoke("sweeper", env=env)
    assert result.returncode == 0, result.stderr
    assert "No application metrics" not in result.stderr + result.stdout
    assert "Warning" not in result.stderr


def test_the_one_flush_publishes_what_was_counted_and_nothing_otherwise(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from common.runtime import observability

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # powertools' empty-flush warning would raise
        observability.flush_metrics()
        assert capsys.readouterr().out == ""
        observability.metrics.add_metric(name="requests", unit="Count", value=1)
        observability.flush_metrics()
    blob = json.loads(capsys.readouterr().out)
    assert blob["requests"] in ([1.0], 1.0)
    assert observability.metrics.metric_set == {}
