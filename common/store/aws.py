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

import os
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
        _session.register_component("data_loader", _direct_loader(_session))
    return _session.create_client(
        service, region_name=settings().region, config=Config(**_CONFIG_KWARGS, **extra)
    )


def _direct_loader(session: Any) -> Any:
    """botocore's model loader, except that checking one service name looks in that
    service's directory only.  The stock loader lists every service it has (~400
    directories, each listed and probed) before it loads any model, once per model
    type: ~30 ms of each cold start's first client (measured on the artefacts, 10 runs:
    median 178 -> 141 ms for a DynamoDB client).  Listing the services still does the
    full scan, so nothing else changes."""
    from botocore.loaders import Loader

    class ServiceNames:
        """What `list_available_services` returns: membership costs one service's check."""

        def __init__(self, loader: Any, type_name: str) -> None:
            self._loader, self._type_name = loader, type_name

        def __contains__(self, service: object) -> bool:
            return isinstance(service, str) and any(
                self._loader.file_loader.exists(
                    os.path.join(base, service, version, self._type_name)
                )
                for base in self._loader._potential_locations()
                if os.path.isdir(os.path.join(base, service))
                for version in os.listdir(os.path.join(base, service))
            )

        def _all(self) -> list[str]:
            return list(Loader.list_available_services(self._loader, self._type_name))

        def __iter__(self) -> Any:
            return iter(self._all())

        def __len__(self) -> int:
            return len(self._all())

        def __getitem__(self, index: int) -> str:
            return self._all()[index]

    class DirectLoader(Loader):  # type: ignore[misc]
        def list_available_services(self, type_name: str) -> Any:
            if not hasattr(self, "_potential_locations"):  # another botocore: the stock scan
                return super().list_available_services(type_name)
            return ServiceNames(self, type_name)

    data_path = session.get_config_variable("data_path")
    extra = (
        [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
        if data_path
        else None
    )
    return DirectLoader(extra_search_paths=extra)


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
