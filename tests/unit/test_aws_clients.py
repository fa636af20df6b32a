"""common.store.aws builds clients from botocore alone: no function's cold start imports
boto3, and AWS_ENDPOINT_URL (make run's moto server) still reaches every client."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.store import aws
from tools.local import infra_model

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_clients_honour_aws_endpoint_url(
    fresh_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert aws.dynamodb().meta.endpoint_url == "http://127.0.0.1:4566"
    assert aws.s3().meta.endpoint_url == "http://127.0.0.1:4566"


def test_clients_keep_retry_timeout_and_s3_addressing_config(fresh_clients: None) -> None:
    config = aws.s3().meta.config
    # botocore stores max_attempts=4 retries as 5 attempts in total
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    assert config.s3 == {"addressing_style": "path"}
    assert aws.client("s3") is aws.s3()  # one client per service per container


def test_no_function_imports_boto3_up_to_handler_ready() -> None:
    # A fresh interpreter per function, as a new Lambda container has.
    for name, spec in infra_model.functions().items():
        module, _, attr = spec.handler.rpartition(".")
        script = (
            "import importlib, sys\n"
            f"getattr(importlib.import_module({module!r}), {attr!r})\n"
            "from common.store import aws\n"
            "aws.dynamodb(); aws.s3()\n"
            "roots = ('boto3', 's3transfer')\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
            "print(','.join(loaded))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert done.stdout.strip() == "", f"{name} imports {done.stdout.strip()}"
