"""Generate infra/dashboard.json, the CloudWatch dashboard, from what already defines it:
the metric catalogue (common/runtime/catalogue.py) and Terraform (functions, routes, tables,
alarms, via tools.local.infra_model).  Nothing is written twice, so the dashboard cannot
name a metric, function or table that does not exist.

The file is a Terraform `templatefile`: names that only exist once deployed are
`${...}` placeholders filled in by infra/dashboard.tf (function and log group names,
table names, the API id and stage, the DLQ name, the EMF namespace, alarm ARNs).
Placeholders sit inside JSON strings, so the file is valid JSON as committed.

    python -m tools.gen.dashboard          # rewrite infra/dashboard.json
    python -m tools.gen.dashboard --check  # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common.runtime.catalogue import CATALOGUE, MetricSpec
from common.runtime.errors import ApiError
from tools.local import infra_model
from tools.local.infra_model import INFRA_DIR

OUTPUT = INFRA_DIR / "dashboard.json"

# Template variables infra/dashboard.tf passes to templatefile().
NAMESPACE = "${namespace}"
SERVICE = "${service}"
REGION = "${region}"
API_ID = "${api_id}"
STAGE = "${stage}"
DLQ = "${dlq_name}"
ALARM_ARN_PREFIX = "${alarm_arn_prefix}"


def function_name(fn: str) -> str:
    return "${functions." + fn + "}"


def log_group(fn: str) -> str:
    return "${log_groups." + fn + "}"


def table_name(table: str) -> str:
    return "${tables." + table + "}"


WIDTH, HEIGHT, COLUMNS = 12, 6, 24
SHORT, HOUR, DAY = 60, 3600, 86400

# Catalogue metrics grouped into panels; any catalogue metric not placed here lands
# in "Other metrics", so a new metric is on the dashboard the day it is declared.
PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Triggers: events", ("events_received", "events_duplicate", "events_delivered"), "Sum"),
    ("Triggers: dedup and idempotency", ("dedup_hits", "idempotent_replays"), "Sum"),
    (
        "Triggers: leases",
        ("events_leased", "events_released", "events_quarantined"),
        "Sum",
    ),
    ("Triggers: age of the oldest leased event, s (p99)", ("lease_event_age",), "p99"),
    (
        "Auth: bcrypt verifications vs cache hits",
        ("auth_bcrypt_verifications", "auth_cache_hits"),
        "Sum",
    ),
    ("Rate-limit rejections (429)", ("rate_limited",), "Sum"),
    ("Context: notes and snapshots", ("notes_created", "snapshots_created"), "Sum"),
    ("Context: snapshot bytes p50", ("snapshot_bytes",), "p50"),
    ("Context: integrity", ("snapshot_orphans_removed", "snapshot_checksum_failures"), "Sum"),
    ("Rehydrate render time p99 (ms)", ("rehydrate_render",), "p99"),
    ("Agents: heartbeats", ("heartbeats_accepted", "heartbeats_refused"), "Sum"),
    ("Agents: sweeper transitions", ("agents_marked_unhealthy", "agents_marked_dead"), "Sum"),
    (
        "Agents: recoveries and lifecycle",
        ("agents_recovered", "agents_deleted", "agent_secrets_rotated"),
        "Sum",
    ),
    (
        "Agents as workers: job outcomes and released work",
        (
            "jobs_succeeded",
            "jobs_failed",
            "agent_leases_released",
            "agent_leases_released_by_sweeper",
        ),
        "Sum",
    ),
    (
        "Agents by status (at rollup)",
        ("agents_healthy", "agents_unhealthy", "agents_dead"),
        "Maximum",
    ),
    ("Inbox backlog (at rollup)", ("inbox_pending",), "Maximum"),
    ("Inbox oldest pending age, s (at rollup)", ("inbox_oldest_pending_age_seconds",), "Maximum"),
    ("Rollup: duration (ms) and tenants", ("rollup_duration", "rollup_tenants"), "Maximum"),
    (
        "Push delivery: messages dispatched, attempts, retries sent from the due index",
        ("deliveries_dispatched", "delivery_attempts", "delivery_retries_enqueued"),
        "Sum",
    ),
    (
        "Push delivery: event → 2xx latency and attempt duration p99 (ms)",
        ("delivery_latency", "delivery_duration"),
        "p99",
    ),
    ("Push delivery: time in the queue p99 (ms)", ("delivery_queue_age",), "p99"),
    (
        "Push delivery: failed attempts and disabled subscriptions",
        ("delivery_failures", "subscriptions_disabled"),
        "Sum",
    ),
)
# Classes of a failed delivery attempt (common.triggers.outbound.Outcome).
FAILURE_CLASSES = ("http_status", "timeout", "connect_error", "tls_error", "ssrf_refused")
# The delivery queues (infra/delivery.tf names them after the deployment).
DELIVERY_QUEUES = ("${name}-deliveries", "${name}-deliveries-dlq")
# The daily figures GET /stats reports per tenant, summed over tenants per UTC day.
DAILY_FIGURES = (
    "events_received",
    "events_duplicate",
    "events_delivered",
    "notes_created",
    "snapshots_created",
    "heartbeats_accepted",
)
# Metrics drawn by the request widgets rather than a panel.
REQUEST_METRICS = ("requests", "latency", "errors_4xx", "errors_5xx", "errors_by_code")


@dataclass
class Layout:
    """Places widgets left to right, two per row, on CloudWatch's 24-column grid."""

    widgets: list[dict[str, Any]] = field(default_factory=list)
    x: int = 0
    y: int = 0

    def add(self, widget: dict[str, Any], width: int = WIDTH, height: int = HEIGHT) -> None:
        if self.x + width > COLUMNS:
            self.x, self.y = 0, self.y + HEIGHT
        self.widgets.append({**widget, "x": self.x, "y": self.y, "width": width, "height": height})
        self.x += width

    def section(self, title: str) -> None:
        if self.x:
            self.x, self.y = 0, self.y + HEIGHT
        self.widgets.append(
            {"type": "text", "x": 0, "y": self.y, "width": COLUMNS, "height": 1,
             "properties": {"markdown": f"## {title}"}}
        )  # fmt: skip
        self.y += 1


def metric_widget(
    title: str,
    metrics: list[list[Any]],
    stat: str = "Sum",
    period: int = SHORT,
    view: str = "timeSeries",
) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": REGION,
            "view": view,
            "stacked": False,
            "stat": stat,
            "period": period,
            "metrics": metrics,
        },
    }


def emf_metric(spec: MetricSpec, dimensions: dict[str, str], **options: Any) -> list[Any]:
    """One EMF metric line; `dimensions` must be exactly the catalogue's set."""
    values = {"service": SERVICE, **dimensions}
    if set(values) != set(spec.dimensions):
        raise ValueError(f"{spec.name}: dimensions {sorted(values)} != {spec.dimensions}")
    row: list[Any] = [NAMESPACE, spec.name]
    for name in spec.dimensions:
        row += [name, values[name]]
    return [*row, options] if options else row


def emf_total(spec: MetricSpec, stat: str, ident: str, period: int = SHORT) -> dict[str, Any]:
    """A catalogue metric over all values of its other dimensions (e.g. every route):
    summed for counts, one line per route for percentiles (they cannot be added)."""
    schema = ",".join([NAMESPACE, *spec.dimensions])
    search = f"SEARCH('{{{schema}}} MetricName=\"{spec.name}\"', '{stat}', {period})"
    expression = f"SUM({search})" if stat == "Sum" else search
    return {"expression": expression, "label": spec.name, "id": ident}


def panel_metrics(names: Iterable[str], stat: str, period: int = SHORT) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for index, name in enumerate(names):
        spec = CATALOGUE[name]
        if spec.dimensions == ("service",):
            rows.append(emf_metric(spec, {}, label=name, stat=stat))
        else:
            rows.append([emf_total(spec, stat, f"m{index}", period)])
    return rows


def error_codes() -> list[str]:
    """Every contract error code (common.runtime.errors), in a stable order."""
    codes: set[str] = set()
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)


def alarm_arns() -> list[str]:
    """ARNs of every CloudWatch alarm Terraform defines: the root module's, and each
    function module's (one set per function)."""
    arns = []
    for file in ("alarms.tf", "delivery.tf"):
        for name in _alarm_names(infra_model.load(file)):
            arns.append(ALARM_ARN_PREFIX + name.replace("${local.name}", "${name}"))
    module_alarms = list(_alarm_names(infra_model.load("modules/function/main.tf")))
    for fn in sorted(infra_model.functions()):
        for name in module_alarms:
            arns.append(ALARM_ARN_PREFIX + name.replace("${var.name}", function_name(fn)))
    return arns


def _alarm_names(parsed: dict[str, Any]) -> Iterator[str]:
    for block in parsed.get("resource", []):
        for spec in block.get("aws_cloudwatch_metric_alarm", {}).values():
            yield str(spec["alarm_name"])


def _api_rows(metric: str, stat: str, routes: Iterable[str]) -> list[list[Any]]:
    base = ["AWS/ApiGateway", metric, "ApiId", API_ID, "Stage", STAGE]
    return [[*base, "Route", route, {"label": route, "stat": stat}] for route in routes]


def _lambda_rows(metric: str, stat: str, functions: Iterable[str]) -> list[list[Any]]:
    return [
        ["AWS/Lambda", metric, "FunctionName", function_name(fn), {"label": fn, "stat": stat}]
        for fn in functions
    ]


def build() -> dict[str, Any]:
    functions = sorted(infra_model.functions())
    routes = sorted(infra_model.route_table())
    layout = Layout()
    _alarms(layout)
    _api(layout, routes)
    _handler_metrics(layout, routes)
    _lambda(layout, functions)
    _tables_and_dlq(layout, sorted(infra_model.table_specs()))
    _delivery_queues(layout)
    _catalogue_panels(layout)
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": layout.widgets}


def _alarms(layout: Layout) -> None:
    layout.section("Alarms")
    layout.add(
        {"type": "alarm", "properties": {"title": "Alarms", "alarms": alarm_arns()}},
        width=COLUMNS,
        height=4,
    )


def _api(layout: Layout, routes: list[str]) -> None:
    """API Gateway's own metrics: the whole API, then per route."""
    layout.section("API")
    api = ["AWS/ApiGateway", "Latency", "ApiId", API_ID, "Stage", STAGE]
    layout.add(
        metric_widget(
            "API latency p50 / p90 / p99 (ms)",
            [[*api, {"stat": stat, "label": stat}] for stat in ("p50", "p90", "p99")],
        )
    )
    layout.add(
        metric_widget(
            "API requests, 4xx, 5xx",
            [
                ["AWS/ApiGateway", name, "ApiId", API_ID, "Stage", STAGE, {"label": name}]
                for name in ("Count", "4xx", "5xx")
            ],
        )
    )
    layout.add(metric_widget("API latency p99 per route (ms)", _api_rows("Latency", "p99", routes)))
    layout.add(metric_widget("API 5xx per route", _api_rows("5xx", "Sum", routes)))
    layout.add(metric_widget("API 4xx per route", _api_rows("4xx", "Sum", routes)))


def _handler_metrics(layout: Layout, routes: list[str]) -> None:
    """The handlers' own request metrics (EMF), per route and per error code."""
    requests, latency = CATALOGUE["requests"], CATALOGUE["latency"]
    layout.add(
        metric_widget(
            "Handler time p99 per route (ms, EMF)",
            [emf_metric(latency, {"route": r}, label=r, stat="p99") for r in routes],
        )
    )
    layout.add(
        metric_widget(
            "Requests per route (EMF)",
            [emf_metric(requests, {"route": r}, label=r) for r in routes],
        )
    )
    for name in ("errors_4xx", "errors_5xx"):
        spec = CATALOGUE[name]
        layout.add(
            metric_widget(
                f"{name} per route (EMF)",
                [emf_metric(spec, {"route": r}, label=r) for r in routes],
            )
        )
    by_code = CATALOGUE["errors_by_code"]
    layout.add(
        metric_widget(
            "Errors by code (EMF)",
            [emf_metric(by_code, {"code": code}, label=code) for code in error_codes()],
        )
    )


def _lambda(layout: Layout, functions: list[str]) -> None:
    layout.section("Lambda")
    layout.add(metric_widget("Duration p99 (ms)", _lambda_rows("Duration", "p99", functions)))
    layout.add(metric_widget("Errors", _lambda_rows("Errors", "Sum", functions)))
    layout.add(metric_widget("Throttles", _lambda_rows("Throttles", "Sum", functions)))
    layout.add(
        metric_widget(
            "Concurrent executions (max)",
            _lambda_rows("ConcurrentExecutions", "Maximum", functions),
        )
    )
    layout.add(_cold_starts(functions), width=COLUMNS)


def _cold_starts(functions: list[str]) -> dict[str, Any]:
    """A Logs Insights table of the REPORT lines that carry an init duration."""
    sources = " | ".join(f"SOURCE '{log_group(fn)}'" for fn in functions)
    return {
        "type": "log",
        "properties": {
            "title": "Cold starts: init duration per function (REPORT lines)",
            "region": REGION,
            "view": "table",
            "query": (
                f'{sources} | filter @type = "REPORT" and ispresent(@initDuration)'
                " | stats count(@initDuration) as cold_starts,"
                " avg(@initDuration) as avg_init_ms, pct(@initDuration, 99) as p99_init_ms,"
                " max(@maxMemoryUsed / 1000 / 1000) as max_memory_mb by @log"
            ),
        },
    }


def _tables_and_dlq(layout: Layout, tables: list[str]) -> None:
    layout.section("DynamoDB and the schedule DLQ")
    for metric in ("ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits"):
        layout.add(
            metric_widget(
                f"{metric} per table",
                [
                    ["AWS/DynamoDB", metric, "TableName", table_name(t), {"label": t}]
                    for t in tables
                ],
            )
        )
    layout.add(
        metric_widget(
            "Throttle events per table",
            [
                ["AWS/DynamoDB", metric, "TableName", table_name(t), {"label": f"{t} {kind}"}]
                for t in tables
                for metric, kind in (
                    ("WriteThrottleEvents", "write"),
                    ("ReadThrottleEvents", "read"),
                )
            ],
        )
    )
    layout.add(
        metric_widget(
            "Schedule DLQ depth",
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    DLQ,
                    {"label": "messages"},
                ]
            ],
            stat="Maximum",
        )
    )


def _delivery_queues(layout: Layout) -> None:
    layout.section("Push delivery queues (SQS)")
    layout.add(
        metric_widget(
            "Delivery queue and DLQ depth",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, {"label": q}]
                for q in DELIVERY_QUEUES
            ],
            stat="Maximum",
        )
    )
    layout.add(
        metric_widget(
            "Oldest delivery message age (s) and failed attempts by class (EMF)",
            [
                [
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    DELIVERY_QUEUES[0],
                    {"label": "oldest message age", "stat": "Maximum"},
                ],
                *[
                    emf_metric(CATALOGUE["delivery_failures"], {"failure_class": c}, label=c)
                    for c in FAILURE_CLASSES
                ],
            ],
        )
    )


def _catalogue_panels(layout: Layout) -> None:
    """The daily figures, then every catalogue metric in its panel (or "Other")."""
    layout.section("dockhand metrics (EMF, see docs/operations.md)")
    layout.add(
        metric_widget(
            "Daily figures (all tenants, per UTC day)",
            panel_metrics(DAILY_FIGURES, "Sum", DAY),
            period=DAY,
            view="bar",
        ),
        width=COLUMNS,
    )
    placed = set(REQUEST_METRICS)
    for title, names, stat in PANELS:
        present = [n for n in names if n in CATALOGUE]
        if present:
            layout.add(metric_widget(title, panel_metrics(present, stat), stat=stat))
            placed |= set(present)
    others = sorted(set(CATALOGUE) - placed)
    if others:
        layout.add(metric_widget("Other metrics", panel_metrics(others, "Sum")))


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run `make dashboard`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
