"""An in-process AWS (moto `mock_aws`) with dockhand's Terraform tables, a creator
key whose verification is already cached (warm container), and a way to call any
route exactly as API Gateway would: a real v2 event into the real handler."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tools.local.coldstate import reset_runtime

BASELINE_TABLE = "baseline-events"
TENANT = "bench"


class NotAvailable(Exception):
    """The function serving a route has not been written yet."""


@dataclass(frozen=True)
class FakeLambdaContext:
    """What powertools' inject_lambda_context reads from the Lambda context."""

    function_name: str = "bench"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


CONTEXT = FakeLambdaContext()


def handler_for(function: str) -> Any:
    module = f"handlers.{function}"
    if importlib.util.find_spec(module) is None:
        raise NotAvailable(function)
    return importlib.import_module(module).handler


def function_for(method: str, path: str) -> str:
    from tools.local import apigw, infra_model

    matched = apigw.match_route(method, path)
    if matched is None:
        raise NotAvailable(f"{method} {path}")
    return infra_model.route_table()[matched[0]]


def build(
    method: str,
    path: str,
    *,
    key: str | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    from tools.local import apigw

    all_headers = {"user-agent": "dockhand-bench"}
    body = None
    if key is not None:
        all_headers["authorization"] = f"Bearer {key}"
    if json_body is not None:
        body = json.dumps(json_body)
        all_headers["content-type"] = "application/json"
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return apigw.build_event(method, path, query=query, headers=all_headers, body=body)


def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """Route → v2 event → handler; the raw Lambda response."""
    handler = handler_for(function_for(method, path))
    response: dict[str, Any] = handler(build(method, path, **kwargs), CONTEXT)
    return response


def body_of(response: Mapping[str, Any]) -> Any:
    return json.loads(response["body"])


def sign_heartbeat(secret: str, timestamp: int, path: str, body: bytes) -> dict[str, str]:
    """The contract's agent signature headers."""
    digest = hashlib.sha256(body).hexdigest()
    message = f"{timestamp}\nPOST\n{path}\n{digest}".encode()
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"x-agent-timestamp": str(timestamp), "x-agent-signature": f"v1={signature}"}


def heartbeat_event(agent_id: str, secret: str) -> dict[str, Any]:
    """A signed heartbeat as API Gateway delivers it (small, fixed figures)."""
    import time

    from tools.local import apigw

    path = f"/agents/{agent_id}/heartbeat"
    figures = ("cpu_percent", "memory_percent", "disk_percent", "jobs_queued", "jobs_completed")
    body = json.dumps({**dict.fromkeys(figures, 0), "uptime_seconds": 1}).encode()
    headers = {"content-type": "application/json"}
    headers.update(sign_heartbeat(secret, int(time.time()), path, body))
    return apigw.build_event("POST", path, headers=headers, body=body)


def create_tables() -> None:
    """dockhand's tables and bucket (from infra/) and the baseline's table."""
    from common.store import aws
    from tools.local import infra_model

    infra_model.ensure_configured_resources()
    aws.dynamodb().create_table(
        TableName=BASELINE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )


@contextmanager
def aws_world() -> Iterator[str]:
    """Yields a creator API key of tenant `bench`, verified and cached."""
    from moto import mock_aws

    from tools.local.emulator import make_dynamodb_safe

    # moto's own TransactWriteItems deep-copies every table it touches: at 100,000
    # events a lease (a transaction) copied the whole table each time and the run
    # ran out of 24 GiB.  make run's check-then-apply version costs only what it writes.
    make_dynamodb_safe()
    with mock_aws():
        reset_runtime()
        from common.access import auth

        create_tables()
        key = str(auth.create_key(TENANT, "creator")["api_key"])
        # Warm container: the key is cached and rate-limit tokens are leased, so
        # the figures show what a steady request costs.
        from common.access import ratelimit

        ratelimit.check(auth.authenticate(f"Bearer {key}"))
        try:
            yield key
        finally:
            reset_runtime()
