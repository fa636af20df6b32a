"""Structured JSON logs and EMF metrics (powertools).  Tracer is deliberately absent:
the X-Ray SDK costs ~340 ms of imports at cold start for little gain on handlers
whose time is one or two DynamoDB calls (see README, Performance)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "dockhand")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "dockhand")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def start_invocation(**keys: object) -> None:
    """Reset log keys for a new invocation and set this invocation's own.

    Keys live in a context variable (powertools' thread-safe keys), so concurrent
    invocations in one process — the local gateway's threads — never share them.
    """
    logger.clear_state()
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**keys)


def add_log_keys(**keys: object) -> None:
    """Add keys to every later log line of this invocation."""
    logger.thread_safe_append_keys(**keys)


def flush_metrics() -> None:
    """Publish what this invocation counted (one EMF blob) and start afresh: the one way
    every function flushes, HTTP or not.  An invocation that counted nothing publishes
    nothing: powertools' own flush would warn "No application metrics to publish" on
    every quiet run (a sweep that changed no agent).  Flushing does not clear when
    metrics are disabled (tests, `make run`), so this clears itself."""
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()
