"""The environment every benchmark process runs in: fake AWS credentials, test
tables and no real AWS anywhere.  Keys are made at production's bcrypt cost
(`auth.BCRYPT_COST`, 4); the cached-key path the warm figures measure runs no bcrypt."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

BENCH_ENV: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "DOCKHAND_MASTER_KEY": "bench-master-key-0123456789abcdef0123456789",
    "DOCKHAND_TABLE_PREFIX": "dockhand-bench",
    # A limit no benchmark loop reaches: the rate limiter's AWS calls still run and count.
    "DOCKHAND_RATE_LIMIT_REQUESTS": "1000000",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "dockhand",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "BASELINE_EVENTS_TABLE": "baseline-events",
    "BASELINE_KEYS_TABLE": "dockhand-bench-keys",
}

# Never let a benchmark reach a real endpoint or a developer's profile.
_DROPPED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME")


def apply() -> None:
    """Set the benchmark environment in this process (before importing handlers)."""
    for name in _DROPPED:
        os.environ.pop(name, None)
    os.environ.update(BENCH_ENV)
    # In-process runs are not Lambda: keep X-Ray off so the baseline's Tracer does
    # not try to reach a daemon. Cold starts set LAMBDA_TASK_ROOT (see coldstart.py).
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"


def lambda_like_env() -> dict[str, str]:
    """The environment of a cold-start subprocess: like a Lambda container, so
    powertools behaves as it does there (Tracer enabled, boto3 patched for X-Ray)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(BENCH_ENV)
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    env["LAMBDA_TASK_ROOT"] = str(REPO_ROOT)
    env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env
