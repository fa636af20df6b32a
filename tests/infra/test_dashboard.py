"""infra/dashboard.json: generated, current, and naming only things that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.runtime.catalogue import CATALOGUE
from tools.gen import dashboard
from tools.local import infra_model
from tools.local.infra_model import INFRA_DIR

PLACEHOLDER = re.compile(r"\$\{([a-z_]+)(?:\.([a-z0-9_]+))?\}")
SEARCH = re.compile(r"SEARCH\('\{([^}]*(?:\}[^}]*)?)\} MetricName=\"([^\"]+)\"")


@pytest.fixture(scope="module")
def text() -> str:
    return (INFRA_DIR / "dashboard.json").read_text()


@pytest.fixture(scope="module")
def body(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def metric_rows(body: dict[str, Any]) -> Iterator[list[Any]]:
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            yield from widget["properties"]["metrics"]


def template_variables() -> set[str]:
    """Keys of the templatefile() map in infra/dashboard.tf."""
    source = (INFRA_DIR / "dashboard.tf").read_text()
    call = source[source.index("templatefile(") :]
    call = call[: call.index("\n  })")]
    return set(re.findall(r"^    ([a-z_]+)\s+=", call, re.M))


def test_committed_dashboard_is_current(text: str) -> None:
    assert text == dashboard.render(), "infra/dashboard.json is stale: run `make dashboard`"


def test_check_mode_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "dashboard.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(dashboard, "OUTPUT", stale)
    assert dashboard.main(["--check"]) == 1
    assert dashboard.main([]) == 0
    assert dashboard.main(["--check"]) == 0


def test_placeholders_are_exactly_the_template_variables(text: str) -> None:
    used = {match.group(1) for match in PLACEHOLDER.finditer(text)}
    assert used == template_variables()
    # templatefile() would also expand %{...} directives; the body must have none.
    assert "%{" not in text


def test_names_only_existing_functions_tables_and_log_groups(text: str) -> None:
    functions, tables = set(infra_model.functions()), set(infra_model.table_specs())
    for match in PLACEHOLDER.finditer(text):
        kind, key = match.groups()
        if kind in {"functions", "log_groups"}:
            assert key in functions, match.group(0)
        elif kind == "tables":
            assert key in tables, match.group(0)
        else:
            assert key is None, match.group(0)
    # ... and shows every one of them.
    for fn in functions:
        assert f"${{functions.{fn}}}" in text
        assert f"${{log_groups.{fn}}}" in text
    for table in tables:
        assert f"${{tables.{table}}}" in text


def test_emf_metrics_are_catalogue_metrics_with_their_dimensions(body: dict[str, Any]) -> None:
    seen: set[str] = set()
    for row in metric_rows(body):
        if isinstance(row[0], dict):  # a metric-math expression
            expression = row[0]["expression"]
            for schema, name in SEARCH.findall(expression):
                namespace, *dimensions = schema.split(",")
                assert namespace == "${namespace}"
                assert name in CATALOGUE, name
                assert tuple(dimensions) == CATALOGUE[name].dimensions, name
                seen.add(name)
            continue
        if row[0] != "${namespace}":
            assert row[0].startswith("AWS/"), row
            continue
        name = row[1]
        assert name in CATALOGUE, name
        pairs = [item for item in row[2:] if not isinstance(item, dict)]
        dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
        assert set(dimensions) == set(CATALOGUE[name].dimensions), name
        assert dimensions["service"] == "${service}"
        seen.add(name)
    assert seen == set(CATALOGUE), f"not on the dashboard: {sorted(set(CATALOGUE) - seen)}"


def test_routes_are_the_terraform_routes(body: dict[str, Any]) -> None:
    routes = set(infra_model.route_table())
    shown = set()
    for row in metric_rows(body):
        pairs = [item for item in row if isinstance(item, str)]
        if "Route" in pairs:
            shown.add(pairs[pairs.index("Route") + 1])
        if "route" in pairs:
            shown.add(pairs[pairs.index("route") + 1])
    assert shown == routes


def test_every_alarm_terraform_defines_is_on_the_alarm_widget(body: dict[str, Any]) -> None:
    (widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    arns = widget["properties"]["alarms"]
    assert "${alarm_arn_prefix}${name}-api-5xx" in arns
    assert "${alarm_arn_prefix}${name}-schedule-dlq-not-empty" in arns
    assert "${alarm_arn_prefix}${name}-deliveries-dlq-not-empty" in arns
    assert "${alarm_arn_prefix}${name}-subscriptions-disabled" in arns
    for fn in infra_model.functions():
        assert f"${{alarm_arn_prefix}}${{functions.{fn}}}-errors" in arns
        assert f"${{alarm_arn_prefix}}${{functions.{fn}}}-throttles" in arns
    assert len(arns) == len(set(arns)) <= 100  # CloudWatch's limit per alarm widget


def test_cold_start_query_reads_every_function_log_group(body: dict[str, Any]) -> None:
    (widget,) = [w for w in body["widgets"] if w["type"] == "log"]
    query = widget["properties"]["query"]
    assert 'filter @type = "REPORT"' in query
    assert "count(@initDuration)" in query
    for fn in infra_model.functions():
        assert f"SOURCE '${{log_groups.{fn}}}'" in query


def test_widgets_fit_the_grid_without_overlapping(body: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert x >= 0
        assert x + width <= 24
        area = {(col, row) for col in range(x, x + width) for row in range(y, y + height)}
        assert not area & cells, widget.get("properties", {}).get("title")
        cells |= area


def test_a_new_catalogue_metric_lands_on_the_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from common.runtime.catalogue import SCHEDULED, MetricSpec

    extra = MetricSpec("brand_new", MetricUnit.Count, "a test metric", SCHEDULED)
    monkeypatch.setitem(CATALOGUE, "brand_new", extra)
    (other,) = [
        w
        for w in dashboard.build()["widgets"]
        if w.get("properties", {}).get("title") == "Other metrics"
    ]
    assert other["properties"]["metrics"][0][:2] == ["${namespace}", "brand_new"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")
def test_terraform_renders_the_template_into_valid_json(tmp_path: Path) -> None:
    """templatefile() as Terraform runs it (terraform console needs no provider)."""
    shutil.copy(INFRA_DIR / "dashboard.json", tmp_path / "dashboard.json")
    functions = {fn: f"dockhand-dev-{fn}" for fn in infra_model.functions()}
    variables = {
        "name": "dockhand-dev",
        "region": "eu-west-1",
        "namespace": "dockhand",
        "service": "dockhand",
        "api_id": "abc123",
        "stage": "$default",
        "dlq_name": "dockhand-dev-schedule-dlq",
        "functions": functions,
        "log_groups": {fn: f"/aws/lambda/{name}" for fn, name in functions.items()},
        "tables": {t: f"dockhand-dev-{t}" for t in infra_model.table_specs()},
        "alarm_arn_prefix": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:",
    }
    assert set(variables) == template_variables()
    expression = f'templatefile("dashboard.json", jsondecode({json.dumps(json.dumps(variables))}))'
    result = subprocess.run(
        ["terraform", "console"],
        input=expression,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = result.stdout.strip()
    if rendered.startswith("<<EOT"):
        rendered = rendered.split("\n", 1)[1].rsplit("\nEOT", 1)[0]
    body = json.loads(rendered)
    text = json.dumps(body)
    assert "${" not in text
    assert "dockhand-dev-events" in text
    assert "dockhand-dev-stats" in text
    assert "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:dockhand-dev-api-5xx" in text
