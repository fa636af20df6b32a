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
