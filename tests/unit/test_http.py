"""common.runtime.http: the request as route functions see it, body rules, request ids, limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from common.runtime import http
from common.runtime.errors import (
    ApiError,
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from common.runtime.http import KIB, MIB, Request, choose_request_id, parse_request
from common.runtime.models import PageQuery


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int
    label: str = Field(default="", max_length=5)


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=10)
    payload: Inner
    tags: list[str] = Field(default_factory=list, max_length=2)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thread_id: str
    limit: int = 50


def event(
    body: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    base64_encoded: bool = False,
    request_id: str = "gw-request-1",
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /things",
        "rawPath": "/things",
        "headers": headers if headers is not None else {"content-type": "application/json"},
        "requestContext": {"requestId": request_id, "http": {"method": "post", "path": "/things"}},
        "isBase64Encoded": base64_encoded,
    }
    if body is not None:
        raw["body"] = body
    return raw


def request(body: str | bytes | None, headers: dict[str, str] | None = None) -> Request:
    if isinstance(body, bytes):
        encoded = base64.b64encode(body).decode()
        return parse_request(event(encoded, headers=headers, base64_encoded=True), "r", 256 * KIB)
    return parse_request(event(body, headers=headers), "r", 256 * KIB)


def error_of(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


VALID = {"name": "ok", "payload": {"x": 1}}


# ----------------------------------------------------------------- JSON bodies


def test_valid_body_becomes_the_model() -> None:
    thing = request(json.dumps(VALID)).json_model(Thing)

    assert thing == Thing(name="ok", payload=Inner(x=1))


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t"])
def test_empty_body_is_invalid_json(body: str | None) -> None:
    error = error_of(lambda: request(body).json_model(Thing))

    assert isinstance(error, InvalidJson)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize(
    "body", ["{", "{'name': 'single quotes'}", "nope", '{"name": "x",}', "[1,"]
)
def test_malformed_json_is_invalid_json(body: str) -> None:
    assert error_of(lambda: request(body).json_model(Thing)).code == "invalid_json"


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe{}", b'{"name": "\xc3\x28", "payload": {"x": 1}}', b"\x80"]
)
def test_body_that_is_not_utf8_is_invalid_json(raw: bytes) -> None:
    error = error_of(lambda: request(raw).json_model(Thing))

    assert error.code == "invalid_json"


def test_bad_base64_is_invalid_json_not_a_crash() -> None:
    bad = event("not*base64!", base64_encoded=True)

    assert error_of(lambda: parse_request(bad, "r", 256 * KIB)).code == "invalid_json"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "ok", "payload": {"x": "one"}}, "payload.x", "integer"),
        ({"name": "ok", "payload": {}}, "payload.x", "required"),
        ({"name": "", "payload": {"x": 1}}, "name", "at least 1"),
        ({"name": "ok", "payload": {"x": 1, "label": "toolong"}}, "payload.label", "at most 5"),
        ({"name": "ok", "payload": {"x": 1}, "tags": ["a", 2]}, "tags.1", "string"),
        ({"name": "ok", "payload": {"x": 1}, "admin": True}, "admin", "unknown field"),
        ({"name": "ok", "payload": {"x": 1, "role": "owner"}}, "payload.role", "unknown field"),
    ],
)
def test_validation_errors_name_the_field_path(body: Any, field: str, message: str) -> None:
    error = error_of(lambda: request(json.dumps(body)).json_model(Thing))

    assert isinstance(error, ValidationFailed)
    assert (error.status, error.code) == (400, "validation_error")
    (detail,) = [d for d in error.details if d["field"] == field]
    assert message in detail["message"].lower()
    assert set(detail) == {"field", "message"}


def test_a_json_array_is_a_validation_error_on_the_body() -> None:
    error = error_of(lambda: request("[1, 2]").json_model(Thing))

    assert error.code == "validation_error"
    assert error.details[0]["field"] == "body"


def test_validation_details_never_echo_the_input() -> None:
    secret = "sk-live-should-not-echo"
    body = {"name": "ok", "payload": {"x": secret}}

    error = error_of(lambda: request(json.dumps(body)).json_model(Thing))

    assert secret not in json.dumps(error.details)


# ----------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
def test_other_media_types_are_415(content_type: str) -> None:
    error = error_of(
        lambda: request(json.dumps(VALID), {"content-type": content_type}).json_model(Thing)
    )

    assert isinstance(error, UnsupportedMediaType)
    assert (error.status, error.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_media_type_with_parameters_is_accepted(content_type: str) -> None:
    thing = request(json.dumps(VALID), {"content-type": content_type}).json_model(Thing)

    assert thing.name == "ok"


def test_header_names_are_case_insensitive() -> None:
    mixed = {"Content-Type": "text/plain", "X-Custom-Header": "v"}
    parsed = parse_request(event(json.dumps(VALID), headers=mixed), "r", 256 * KIB)

    assert parsed.header("content-type") == "text/plain"
    assert parsed.header("X-CUSTOM-HEADER") == "v"
    assert error_of(lambda: parsed.json_model(Thing)).code == "unsupported_media_type"


# ----------------------------------------------------------------- body size


@pytest.mark.parametrize("limit", [256 * KIB, 5 * MIB])
def test_body_at_the_limit_is_accepted_and_one_byte_more_is_413(limit: int) -> None:
    at_limit = parse_request(event("a" * limit), "r", limit)

    assert len(at_limit.body) == limit
    error = error_of(lambda: parse_request(event("a" * (limit + 1)), "r", limit))
    assert isinstance(error, PayloadTooLarge)
    assert (error.status, error.code) == (413, "payload_too_large")


@pytest.mark.parametrize("limit", [256 * KIB, 5 * MIB])
@pytest.mark.parametrize("extra", [0, 1, 2, 3])
def test_base64_bodies_are_measured_decoded(limit: int, extra: int) -> None:
    # Each padding length (extra bytes past a multiple of 3) must count exactly.
    size = limit - 3 + extra
    encoded = event(base64.b64encode(b"\x00" * size).decode(), base64_encoded=True)

    if size <= limit:
        assert len(parse_request(encoded, "r", limit).body) == size
    else:
        assert error_of(lambda: parse_request(encoded, "r", limit)).code == "payload_too_large"


def test_multibyte_utf8_is_counted_in_bytes() -> None:
    limit = 256 * KIB
    exact = "é" * (limit // 2)  # two bytes each

    assert len(parse_request(event(exact), "r", limit).body) == limit
    error = error_of(lambda: parse_request(event(exact + "a"), "r", limit))
    assert error.code == "payload_too_large"


def test_413_comes_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("decoded an oversized body")

    monkeypatch.setattr(http.base64, "b64decode", must_not_decode)
    oversized = event("A" * (400 * KIB), base64_encoded=True)

    assert error_of(lambda: parse_request(oversized, "r", 256 * KIB)).code == "payload_too_large"


# ----------------------------------------------------------------- request ids


@pytest.mark.parametrize(
    "client_id", ["a", "x" * 128, "trace-1:abc.DEF_9", "0123456789", "Root.1-2_3:4"]
)
def test_well_formed_client_request_id_is_used(client_id: str) -> None:
    assert choose_request_id(event(headers={"X-Request-ID": client_id})) == client_id
    assert choose_request_id(event(headers={"x-request-id": client_id})) == client_id


@pytest.mark.parametrize(
    "client_id", ["", "x" * 129, "has space", "slash/no", "semi;colon", "é", "new\nline", "a,b"]
)
def test_malformed_client_request_id_falls_back_to_the_gateway_id(client_id: str) -> None:
    chosen = choose_request_id(event(headers={"x-request-id": client_id}, request_id="gw-7"))

    assert chosen == "gw-7"


def test_without_any_header_the_gateway_id_is_used() -> None:
    assert choose_request_id(event(headers={}, request_id="gw-8")) == "gw-8"


# ----------------------------------------------------------------- limits and pages


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("1", 1), ("50", 50), ("200", 200)])
def test_page_limit_accepts_1_to_200(raw: str | None, expected: int) -> None:
    query = {} if raw is None else {"limit": raw}

    assert _with_query(query).query_model(PageQuery).limit == expected


@pytest.mark.parametrize("raw", ["0", "201", "-1", "abc", "", "1.5", " 5", "10e1", "٣", "²"])
def test_page_limit_refuses_anything_else(raw: str) -> None:
    error = error_of(lambda: _with_query({"limit": raw}).query_model(PageQuery))

    assert error.code == "validation_error"
    assert [detail["field"] for detail in error.details] == ["limit"]


def test_an_unknown_query_parameter_is_named_as_such() -> None:
    error = error_of(lambda: _with_query({"limti": "5"}).query_model(PageQuery))

    assert error.details == [{"field": "limti", "message": "unknown query parameter"}]


def _with_query(query: dict[str, str]) -> Request:
    raw = event() | {"queryStringParameters": query}
    return parse_request(raw, "req-1", 1024)


def test_query_model_refuses_unknown_parameters_and_names_fields() -> None:
    parsed = parse_request(
        {**event(), "queryStringParameters": {"thread_id": "t", "sort": "desc"}}, "r", 256 * KIB
    )

    error = error_of(lambda: parsed.query_model(ListQuery))

    assert error.details == [{"field": "sort", "message": "unknown query parameter"}]


def test_page_envelope() -> None:
    assert http.page([1], "c") == {"items": [1], "next_cursor": "c", "has_more": True}
    assert http.page([], None) == {"items": [], "next_cursor": None, "has_more": False}


def test_json_response_keeps_unicode_as_utf8() -> None:
    response = http.json_response(200, {"text": "naïve 🚀 漢字"})

    assert "naïve 🚀 漢字" in response["body"]
    assert json.loads(response["body"]) == {"text": "naïve 🚀 漢字"}
