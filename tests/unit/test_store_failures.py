"""`classify`: the one decision HTTP and JSON-RPC share about an unexpected exception."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from common.runtime.errors import InternalError, ServiceUnavailable
from common.runtime.observability import logger
from common.store.failures import classify


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)  # type: ignore[attr-defined]  # powertools forwards it


def _client_error(code: str) -> ClientError:
    error = {"Code": code, "Message": "table arn:aws:dynamodb:secret-table"}
    return ClientError({"Error": error}, "Query")


def _lines(logs: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


@pytest.mark.parametrize(
    "exc",
    [_client_error("ThrottlingException"), EndpointConnectionError(endpoint_url="http://x")],
)
def test_a_retryable_aws_error_is_503_retry_after_1_and_a_warning(
    exc: Exception, logs: io.StringIO
) -> None:
    error = classify(exc)

    assert isinstance(error, ServiceUnavailable)
    assert (error.status, error.code, error.headers) == (
        503,
        "service_unavailable",
        {"Retry-After": "1"},
    )
    (line,) = _lines(logs)
    assert line["level"] == "WARNING"
    assert line["message"] == "backing service unavailable"
    expected_code = "ThrottlingException" if isinstance(exc, ClientError) else None
    assert line.get("aws_code") == expected_code
    assert "arn:aws" not in error.message


@pytest.mark.parametrize(
    "exc", [RuntimeError("password hunter2"), _client_error("ValidationException")]
)
def test_anything_else_is_500_with_the_traceback_logged_only(
    exc: Exception, logs: io.StringIO
) -> None:
    try:
        raise exc
    except Exception as raised:
        error = classify(raised)

    assert type(error) is InternalError
    assert (error.status, error.code, error.message) == (500, "internal_error", "Internal error.")
    assert "hunter2" not in error.message
    (line,) = _lines(logs)
    assert line["level"] == "ERROR"
    assert line["message"] == "unhandled error"
    assert "Traceback" in str(line["exception"])
    if isinstance(exc, ClientError):
        assert line["aws_code"] == "ValidationException"


def test_each_entry_point_keeps_its_own_unhandled_message(logs: io.StringIO) -> None:
    try:
        raise KeyError("x")
    except KeyError as raised:
        classify(raised, unhandled="unhandled mcp error")

    assert [line["message"] for line in _lines(logs)] == ["unhandled mcp error"]
