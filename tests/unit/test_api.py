"""common.api.http_handler with a test-only route table: the error envelope for every
code in the contract's Conventions, body limits, request ids, auth order and logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import BaseModel, ConfigDict, Field

from common.api import Route, http_handler
from common.runtime.errors import Conflict, InvalidCursor, NotFound, RateLimited, ServiceUnavailable
from common.runtime.http import KIB, MIB, Request, json_response, page
from common.runtime.models import PageQuery
from common.runtime.observability import logger
from tests.conftest import Keys
from tools.local import apigw

ENVELOPE_KEYS = {"code", "message", "details", "request_id"}
LEAKY_TEXT = "arn:aws:dynamodb:us-east-1:123456789012:table/secret-table"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    payload: Payload


calls: list[str] = []


def create_thing(request: Request) -> dict[str, Any]:
    thing = request.json_model(Thing)
    calls.append("create")
    logger.info("thing created", extra={"thing": thing.name})
    return json_response(201, thing.model_dump())


def body_size(request: Request) -> dict[str, Any]:
    calls.append("size")
    return json_response(200, {"size": len(request.body)})


def list_things(request: Request) -> dict[str, Any]:
    return json_response(200, page([], None) | {"limit": request.query_model(PageQuery).limit})


def raiser(error: Exception) -> Any:
    def route(request: Request) -> dict[str, Any]:
        calls.append("raise")
        raise error

    return route


def throttling_error() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": f"Rate exceeded for {LEAKY_TEXT}"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "Query",
    )


def canceled_transaction(reason: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": LEAKY_TEXT},
            "CancellationReasons": [{"Code": "None"}, {"Code": reason}],
        },
        "TransactWriteItems",
    )


def ok(request: Request) -> dict[str, Any]:
    calls.append("ok")
    return json_response(200, {"tenant": request.tenant})


ROUTES = {
    "POST /things": Route(create_thing, auth="none"),
    "POST /raw": Route(body_size, auth="none"),
    "POST /big": Route(body_size, auth="none", max_body=5 * MIB),
    "GET /things": Route(list_things, auth="none"),
    "GET /missing": Route(raiser(NotFound()), auth="none"),
    "GET /conflict": Route(raiser(Conflict("Name taken.")), auth="none"),
    "GET /cursor": Route(raiser(InvalidCursor()), auth="none"),
    "GET /limited": Route(raiser(RateLimited(7)), auth="none"),
    "GET /busy": Route(raiser(ServiceUnavailable(retry_after=3)), auth="none"),
    "GET /boom": Route(raiser(RuntimeError(f"password=hunter2 {LEAKY_TEXT}")), auth="none"),
    "GET /key-error": Route(raiser(KeyError("secret_hash")), auth="none"),
    "GET /throttled": Route(raiser(throttling_error()), auth="none"),
    "GET /conflicted-tx": Route(raiser(canceled_transaction("TransactionConflict")), auth="none"),
    "GET /failed-tx": Route(raiser(canceled_transaction("ConditionalCheckFailed")), auth="none"),
    "GET /unreachable": Route(
        raiser(EndpointConnectionError(endpoint_url="http://dynamodb")), auth="none"
    ),
    "GET /slow": Route(raiser(ReadTimeoutError(endpoint_url="http://dynamodb")), auth="none"),
    "GET /viewer": Route(ok, auth="viewer"),
    "POST /creator": Route(ok, auth="creator"),
}
handler = http_handler("testfn", ROUTES)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the powertools logger writes, formatted exactly as in Lambda (JSON lines)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


def call(
    route_key: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool | None = None,
    request_id: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    method, path = route_key.split(" ", 1)
    all_headers = {"content-type": "application/json", **(headers or {})}
    event = apigw.build_event(
        method,
        path,
        route_key=route_key,
        headers=all_headers,
        body=body,
        query=query,
        base64_body=base64_body,
    )
    if request_id is not None:
        event["requestContext"]["requestId"] = request_id
    response = handler(event, None)
    text = response["body"]
    return response["statusCode"], response["headers"], json.loads(text) if text else None


def assert_error(result: tuple[int, dict[str, str], Any], status: int, code: str) -> dict[str, Any]:
    got_status, headers, body = result
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert set(body) == {"error"}
    assert set(body["error"]) == ENVELOPE_KEYS
    assert isinstance(body["error"]["details"], list)
    assert body["error"]["request_id"] == headers["X-Request-ID"]
    assert headers["Content-Type"] == "application/json"
    error: dict[str, Any] = body["error"]
    return error


VALID = json.dumps({"name": "ok", "payload": {"x": 1}})


def test_a_valid_request_reaches_the_route() -> None:
    status, headers, body = call("POST /things", body=VALID)

    assert status == 201
    assert body == {"name": "ok", "payload": {"x": 1}}
    assert headers["X-Request-ID"]


# ----------------------------------------------------------------- 400s


@pytest.mark.parametrize("body", [None, "", "{not json", "\ufeff{}"])
def test_invalid_json(body: str | None) -> None:
    assert_error(call("POST /things", body=body), 400, "invalid_json")
    assert calls == []


def test_non_utf8_body_is_invalid_json() -> None:
    result = call("POST /things", body=b'{"name": "\xff"}', base64_body=True)

    assert_error(result, 400, "invalid_json")


def test_validation_error_lists_field_paths() -> None:
    body = json.dumps({"name": "", "payload": {"x": "one", "extra": 1}, "admin": True})

    error = assert_error(call("POST /things", body=body), 400, "validation_error")

    by_field = {d["field"]: d["message"] for d in error["details"]}
    assert set(by_field) == {"name", "payload.x", "payload.extra", "admin"}
    assert by_field["admin"] == by_field["payload.extra"] == "unknown field"
    assert calls == []


def test_invalid_cursor_and_bad_limit() -> None:
    assert_error(call("GET /cursor"), 400, "invalid_cursor")
    error = assert_error(call("GET /things", query={"limit": "500"}), 400, "validation_error")
    assert error["details"][0]["field"] == "limit"
    assert call("GET /things", query={"limit": "200"})[2]["limit"] == 200


# ----------------------------------------------------------------- 404 / 409 / 415


def test_unknown_route_is_404() -> None:
    assert_error(call("GET /nowhere"), 404, "not_found")
    assert_error(call("GET /missing"), 404, "not_found")


def test_conflict_keeps_its_message() -> None:
    error = assert_error(call("GET /conflict"), 409, "conflict")

    assert error["message"] == "Name taken."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_unsupported_media_type(content_type: str) -> None:
    result = call("POST /things", body=VALID, headers={"content-type": content_type})

    assert_error(result, 415, "unsupported_media_type")
    assert calls == []


def test_json_with_charset_is_accepted() -> None:
    result = call(
        "POST /things", body=VALID, headers={"content-type": "application/json; charset=utf-8"}
    )

    assert result[0] == 201


# ----------------------------------------------------------------- 413


@pytest.mark.parametrize(("route", "limit"), [("POST /raw", 256 * KIB), ("POST /big", 5 * MIB)])
@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "base64"])
def test_body_limit_is_exact(route: str, limit: int, encoded: bool) -> None:
    def send(size: int) -> tuple[int, dict[str, str], Any]:
        data = b"a" * size
        return call(route, body=data if encoded else data.decode(), base64_body=encoded)

    assert send(limit)[2] == {"size": limit}
    assert_error(send(limit + 1), 413, "payload_too_large")
    assert calls == ["size"]  # the oversized request never reached the route


def test_the_default_limit_does_not_apply_to_a_route_with_a_larger_one() -> None:
    assert call("POST /big", body="a" * (256 * KIB + 1))[0] == 200
    assert_error(call("POST /raw", body="a" * (256 * KIB + 1)), 413, "payload_too_large")


def test_413_comes_before_parsing_and_auth() -> None:
    # Not JSON, wrong media type, no key: the size is still the first answer.
    oversized = "{" * (256 * KIB + 1)

    assert_error(call("POST /raw", body=oversized), 413, "payload_too_large")
    result = call("POST /creator", body=oversized, headers={"content-type": "text/plain"})
    assert_error(result, 413, "payload_too_large")


# ----------------------------------------------------------------- 429 / 503 / 500


def test_rate_limited_carries_retry_after() -> None:
    result = call("GET /limited")

    assert_error(result, 429, "rate_limited")
    assert result[1]["Retry-After"] == "7"


def test_service_unavailable_carries_retry_after() -> None:
    result = call("GET /busy")

    assert_error(result, 503, "service_unavailable")
    assert result[1]["Retry-After"] == "3"


@pytest.mark.parametrize(
    "route", ["GET /throttled", "GET /unreachable", "GET /slow", "GET /conflicted-tx"]
)
def test_retryable_aws_errors_become_503_without_aws_text(route: str) -> None:
    status, headers, body = call(route)

    assert_error((status, headers, body), 503, "service_unavailable")
    assert int(headers["Retry-After"]) >= 1
    text = json.dumps(body)
    for leak in ("Throttling", "arn:aws", "secret-table", "dynamodb", "Transaction"):
        assert leak not in text


@pytest.mark.parametrize("route", ["GET /boom", "GET /key-error", "GET /failed-tx"])
def test_unexpected_errors_are_500_and_leak_nothing(route: str, logs: io.StringIO) -> None:
    status, headers, body = call(route)

    error = assert_error((status, headers, body), 500, "internal_error")
    assert "Retry-After" not in headers
    assert error["details"] == []
    text = json.dumps(body)
    for leak in ("hunter2", "arn:aws", "secret_hash", "Traceback", "RuntimeError", "File "):
        assert leak not in text
    assert "unhandled error" in logs.getvalue()  # the cause is logged instead


# ----------------------------------------------------------------- request ids and logs


def test_client_request_id_is_echoed_everywhere() -> None:
    _, headers, body = call("GET /missing", headers={"X-Request-ID": "client-42"})

    assert headers["X-Request-ID"] == "client-42"
    assert body["error"]["request_id"] == "client-42"


@pytest.mark.parametrize("bad", ["x" * 129, "bad id", "bad/id", ""])
def test_bad_client_request_id_is_replaced(bad: str) -> None:
    _, headers, body = call("GET /missing", headers={"x-request-id": bad}, request_id="gw-9")

    assert headers["X-Request-ID"] == "gw-9"
    assert body["error"]["request_id"] == "gw-9"


def test_success_responses_carry_the_request_id_too() -> None:
    assert call("POST /things", body=VALID, request_id="gw-10")[1]["X-Request-ID"] == "gw-10"


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("route", ["POST /things", "GET /boom", "GET /throttled"])
def test_every_log_line_of_a_request_has_its_request_id(route: str, logs: io.StringIO) -> None:
    call("GET /missing", request_id="earlier-request")
    logs.truncate(0)
    logs.seek(0)

    call(route, body=VALID, request_id="this-request")

    lines = log_lines(logs.getvalue())
    assert len(lines) >= 2  # the route's own line (or the error) and the request line
    assert {line.get("correlation_id") for line in lines} == {"this-request"}
    assert all(line["function"] == "testfn" and line["route"] == route for line in lines)


def test_the_request_log_line_has_status_and_duration_but_no_body(logs: io.StringIO) -> None:
    body = json.dumps({"name": "body-marker-1", "payload": {"x": 1}})
    call("POST /things", body=body, headers={"authorization": "Bearer dk_secret_marker"})

    output = logs.getvalue()
    (request_line,) = [line for line in log_lines(output) if line["message"] == "request"]
    assert request_line["status"] == 201
    assert request_line["duration_ms"] >= 0
    assert "dk_secret_marker" not in output
    assert '"payload"' not in output


# ----------------------------------------------------------------- auth order


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Basic abc", "Bearer dk_short", "Bearer not-a-key"]
)
def test_missing_or_malformed_key_is_401(authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}

    assert_error(call("GET /viewer", headers=headers), 401, "unauthorized")
    assert calls == []


@pytest.mark.usefixtures("aws")
def test_unknown_key_is_401(keys: Keys) -> None:
    key_id, secret = keys.viewer.split("_", 2)[1:]
    wrong_secret = f"dk_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    unknown_id = f"dk_{'0' * 16}_{secret}"

    assert_error(
        call("GET /viewer", headers={"authorization": f"Bearer {wrong_secret}"}),
        401,
        "unauthorized",
    )
    assert_error(
        call("GET /viewer", headers={"authorization": f"Bearer {unknown_id}"}), 401, "unauthorized"
    )


def test_viewer_may_read_but_not_write(keys: Keys) -> None:
    viewer = {"authorization": f"Bearer {keys.viewer}"}
    creator = {"authorization": f"bearer {keys.creator}"}  # scheme is case-insensitive

    assert call("GET /viewer", headers=viewer)[2] == {"tenant": "acme"}
    error = assert_error(call("POST /creator", body="{}", headers=viewer), 403, "forbidden")
    assert "creator role" in error["message"]  # the error names the role needed (#26)
    assert call("POST /creator", body="{}", headers=creator)[0] == 200
    assert calls == ["ok", "ok"]


def test_auth_comes_before_body_parsing(keys: Keys) -> None:
    # A viewer sending junk to a write route learns only that it may not write.
    result = call("POST /creator", body="{junk", headers={"authorization": f"Bearer {keys.viewer}"})

    assert_error(result, 403, "forbidden")


def test_error_responses_never_include_the_api_key(keys: Keys) -> None:
    _, _, body = call(
        "POST /creator", body="{}", headers={"authorization": f"Bearer {keys.viewer}"}
    )

    assert keys.viewer not in json.dumps(body)
    assert keys.viewer.split("_", 2)[2] not in json.dumps(body)
