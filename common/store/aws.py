"""AWS clients: created lazily, once per container, and injectable for tests.

Clients come straight from botocore, not boto3: dockhand only uses low-level
clients, and `import boto3` also imports s3transfer and its thread-pool machinery
(about 100 ms of every cold start for nothing).  botocore clients are the very
objects boto3 would return (`boto3.client` delegates to botocore), minus the S3
transfer helpers (`upload_file` & co.), which dockhand does not use.

Nothing here talks to AWS at import time, so a test that enters `moto.mock_aws`
before its first call gets mocked clients.  `AWS_ENDPOINT_URL` (honoured by
botocore itself) points every client at an emulator such as the moto server.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_session: Any = None  # one botocore Session per process: it caches the loaded service models

# Adaptive retries back off on throttling; short timeouts keep a stuck call from
# eating the whole Lambda budget (API Gateway gives up after 30 s anyway).
_CONFIG_KWARGS: dict[str, Any] = {
    "retries": {"mode": "adaptive", "max_attempts": 4},
    "connect_timeout": 2,
    "read_timeout": 5,
    "tcp_keepalive": True,
}


def client(service: str) -> Any:
    """The container's client for `service` (e.g. "dynamodb", "s3")."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            _clients[service] = _create(service)
        return _clients[service]


def _create(service: str) -> Any:
    import botocore.session
    from botocore.config import Config

    from common.runtime.config import settings

    extra: dict[str, Any] = {}
    if service == "s3":
        # Path-style keeps emulators (moto server, LocalStack) working without DNS tricks.
        extra["s3"] = {"addressing_style": "path"}
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    return _session.create_client(
        service, region_name=settings().region, config=Config(**_CONFIG_KWARGS, **extra)
    )


def set_client(service: str, instance: Any) -> None:
    """Inject a client (a Stubber-wrapped one, or one built inside a mock)."""
    with _lock:
        _clients[service] = instance


def reset_clients() -> None:
    """Drop every cached client; the next call creates fresh ones."""
    with _lock:
        _clients.clear()


def dynamodb() -> Any:
    return client("dynamodb")


def s3() -> Any:
    return client("s3")


# botocore error codes that mean "busy or briefly down": the client should retry.
_RETRYABLE_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "InternalError",
        "RequestTimeout",
        "TransactionInProgressException",
    }
)


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def is_retryable_aws_error(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    transport = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)
    if isinstance(exc, (*transport, ConnectionClosedError)):
        return True
    code = aws_error_code(exc)
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
        return any(r.get("Code") in {"ThrottlingError", "TransactionConflict"} for r in reasons)
    return code in _RETRYABLE_AWS_CODES
