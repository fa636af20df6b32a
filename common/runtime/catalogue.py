"""The metric catalogue: every EMF metric dockhand emits, declared once.

`count`/`record` refuse names the catalogue lacks, and
tests/unit/test_metrics_catalogue.py fails when code emits a name the catalogue
lacks or the catalogue lists one nothing emits.  docs/operations.md explains each
metric; tools/gen/dashboard.py draws the dashboard from this table.

Dimensions: powertools writes one EMF blob per flush with one dimension set for all
its metrics.  Metrics counted while serving a request share `(service, route)`
(common.api adds `route` before flushing); scheduled functions emit `(service,)`;
`errors_by_code` is flushed on its own with `(service, code)`, so the error code
never multiplies the cardinality of the per-route metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from common.runtime.observability import metrics

# Dimension sets a metric is published with (powertools adds `service` to all).
REQUEST = ("service", "route")
SCHEDULED = ("service",)
BY_CODE = ("service", "code")
BY_FAILURE = ("service", "failure_class")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: MetricUnit
    description: str
    dimensions: tuple[str, ...] = REQUEST


CATALOGUE: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("requests", MetricUnit.Count, "HTTP requests handled"),
        MetricSpec("latency", MetricUnit.Milliseconds, "time inside the handler"),
        MetricSpec("errors_4xx", MetricUnit.Count, "client errors returned"),
        MetricSpec("errors_5xx", MetricUnit.Count, "server errors returned"),
        MetricSpec(
            "errors_by_code", MetricUnit.Count, "error answers by contract error code", BY_CODE
        ),
        MetricSpec("auth_bcrypt_verifications", MetricUnit.Count, "bcrypt checks (cache misses)"),
        MetricSpec("auth_cache_hits", MetricUnit.Count, "API keys served from the cache"),
        MetricSpec("notes_created", MetricUnit.Count, "notes stored"),
        MetricSpec("snapshots_created", MetricUnit.Count, "snapshots stored (S3 + metadata)"),
        MetricSpec("snapshot_bytes", MetricUnit.Bytes, "uncompressed size of a stored snapshot"),
        MetricSpec(
            "snapshot_orphans_removed",
            MetricUnit.Count,
            "objects removed after a failed metadata write",
        ),
        MetricSpec(
            "snapshot_checksum_failures",
            MetricUnit.Count,
            "snapshot reads whose SHA-256 did not match",
        ),
        MetricSpec(
            "rehydrate_render", MetricUnit.Milliseconds, "time to render a rehydrate document"
        ),
        MetricSpec("events_received", MetricUnit.Count, "new events stored"),
        MetricSpec("events_duplicate", MetricUnit.Count, "posts answered as duplicates"),
        MetricSpec("events_delivered", MetricUnit.Count, "events acknowledged (first time)"),
        MetricSpec("events_leased", MetricUnit.Count, "events handed out by leases"),
        MetricSpec("events_released", MetricUnit.Count, "leased events given back"),
        MetricSpec("events_quarantined", MetricUnit.Count, "events quarantined after max leases"),
        MetricSpec(
            "lease_event_age",
            MetricUnit.Seconds,
            "age of the oldest event a lease handed out (how far consumers lag)",
        ),
        MetricSpec("dedup_hits", MetricUnit.Count, "posts matching content within 5 min"),
        MetricSpec("idempotent_replays", MetricUnit.Count, "Idempotency-Key replays"),
        MetricSpec("rate_limited", MetricUnit.Count, "requests refused with 429"),
        MetricSpec("heartbeats_accepted", MetricUnit.Count, "signed heartbeats recorded"),
        MetricSpec("heartbeats_refused", MetricUnit.Count, "heartbeats answered 401"),
        MetricSpec(
            "agents_marked_unhealthy", MetricUnit.Count, "sweeper: healthy → unhealthy", SCHEDULED
        ),
        MetricSpec("agents_marked_dead", MetricUnit.Count, "sweeper: → dead", SCHEDULED),
        MetricSpec("agents_recovered", MetricUnit.Count, "heartbeats that made an agent healthy"),
        MetricSpec("agents_deleted", MetricUnit.Count, "agents removed with DELETE /agents/{id}"),
        MetricSpec("agent_secrets_rotated", MetricUnit.Count, "agent secret rotations"),
        MetricSpec("jobs_succeeded", MetricUnit.Count, "agent acks with outcome succeeded"),
        MetricSpec("jobs_failed", MetricUnit.Count, "agent acks with outcome failed"),
        MetricSpec(
            "agent_leases_released",
            MetricUnit.Count,
            "events a deleted agent held, released at once (DELETE /agents/{id})",
        ),
        MetricSpec(
            "agent_leases_released_by_sweeper",
            MetricUnit.Count,
            "events a dead agent held, released by the sweeper",
            SCHEDULED,
        ),
        MetricSpec(
            "rollup_duration", MetricUnit.Milliseconds, "time of one daily rollup run", SCHEDULED
        ),
        MetricSpec("rollup_tenants", MetricUnit.Count, "tenants rolled up in one run", SCHEDULED),
        # Gauges the daily rollup publishes, over the tenants it rolled up (sum / max).
        MetricSpec("inbox_pending", MetricUnit.Count, "pending events (all tenants)", SCHEDULED),
        MetricSpec(
            "inbox_oldest_pending_age_seconds",
            MetricUnit.Seconds,
            "age of the oldest pending event (max over tenants)",
            SCHEDULED,
        ),
        MetricSpec("agents_healthy", MetricUnit.Count, "agents healthy at rollup", SCHEDULED),
        MetricSpec("agents_unhealthy", MetricUnit.Count, "agents unhealthy at rollup", SCHEDULED),
        MetricSpec("agents_dead", MetricUnit.Count, "agents dead at rollup", SCHEDULED),
        # Push delivery (dispatch, deliver, retry functions; docs/triggers.md).
        MetricSpec(
            "deliveries_dispatched",
            MetricUnit.Count,
            "delivery messages queued for new events",
            SCHEDULED,
        ),
        MetricSpec("delivery_attempts", MetricUnit.Count, "HTTP delivery attempts", SCHEDULED),
        MetricSpec(
            "delivery_latency",
            MetricUnit.Milliseconds,
            "event received → receiver's 2xx (successful attempts)",
            SCHEDULED,
        ),
        MetricSpec(
            "delivery_duration", MetricUnit.Milliseconds, "time of one HTTP attempt", SCHEDULED
        ),
        MetricSpec(
            "delivery_failures",
            MetricUnit.Count,
            "failed attempts by class (http_status, timeout, connect_error, tls_error, "
            "ssrf_refused)",
            BY_FAILURE,
        ),
        MetricSpec(
            "delivery_queue_age",
            MetricUnit.Milliseconds,
            "time a delivery message waited in the queue",
            SCHEDULED,
        ),
        MetricSpec(
            "delivery_retries_enqueued",
            MetricUnit.Count,
            "retries sent from the due-time index",
            SCHEDULED,
        ),
        MetricSpec(
            "subscriptions_disabled", MetricUnit.Count, "subscriptions auto-disabled", SCHEDULED
        ),
        MetricSpec(
            "deliveries_parked",
            MetricUnit.Count,
            "deliveries parked because their tenant or subscription was at its share",
            SCHEDULED,
        ),
        MetricSpec(
            "deliveries_paced",
            MetricUnit.Count,
            "deliveries delayed by their subscription's rate limit",
            SCHEDULED,
        ),
    )
}


def _spec(name: str) -> MetricSpec:
    spec = CATALOGUE.get(name)
    if spec is None:
        raise KeyError(f"metric {name!r} is not in common.runtime.catalogue.CATALOGUE")
    return spec


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=_spec(name).unit, value=value)


def record(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=_spec(name).unit, value=value)
