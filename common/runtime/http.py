"""API Gateway HTTP API (payload 2.0) events in, response dicts out, no framework."""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.errors import (
    ApiError,
    ErrorCode,
    ErrorDetail,
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    field_error,
)
from common.runtime.slug import SLUG_MESSAGE, SLUG_PATTERN

KIB = 1024
MIB = 1024 * KIB
DEFAULT_MAX_BODY = 256 * KIB
DEFAULT_LIMIT, MAX_LIMIT = 50, 200

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and role."""

    tenant: str
    role: str
    key_id: str


@dataclass
class Request:
    route_key: str
    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    request_id: str
    principal: Principal | None = None
    raw_event: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tenant(self) -> str:
        if self.principal is None:  # pragma: no cover - routes without auth never ask
            raise RuntimeError("route has no authenticated principal")
        return self.principal.tenant

    @property
    def source_ip(self) -> str | None:
        """The client's address as API Gateway saw it (requestContext.http.sourceIp)."""
        context = self.raw_event.get("requestContext") or {}
        value = (context.get("http") or {}).get("sourceIp")
        return str(value) if value else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_model(self, model: type[M]) -> M:
        """The body validated against `model`: 415, 400 invalid_json, 400 validation_error."""
        _require_json_content_type(self.header("content-type"))
        if not self.body.strip():
            raise InvalidJson("The request body is empty; send a JSON object.")
        require_finite_json(self.body)
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                raise InvalidJson() from None
            raise ValidationFailed(details=validation_details(exc)) from None

    def query_model(self, model: type[M]) -> M:
        """Query parameters validated against `model` (unknown ones refused)."""
        try:
            return model.model_validate(self.query)
        except ValidationError as exc:
            details = validation_details(exc, unknown="unknown query parameter")
            raise ValidationFailed(details=details) from None

    def path_param(self, name: str) -> str:
        value = self.path_params.get(name)
        if not value:
            raise field_error(name, "missing path parameter")
        return value


_NON_FINITE_MESSAGE = (
    "The request body is not valid JSON: numbers must be finite "
    "(NaN, Infinity and values beyond a double's range are not JSON)."
)
_DUPLICATE_MESSAGE = "The request body is not valid JSON here: a name appears twice in one object."
# Integer literals longer than this may exceed a double; only those are compared.
_DOUBLE_DIGITS = len(str(int(sys.float_info.max)))


class _NonFinite(ValueError):
    pass


def _refuse_constant(_name: str) -> Any:
    raise _NonFinite


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e400" parses to inf: not a double, not JSON
        raise _NonFinite
    return value


def _finite_int(text: str) -> int:
    value = int(text)
    if len(text) >= _DOUBLE_DIGITS and abs(value) > sys.float_info.max:
        raise _NonFinite  # every JSON reader that maps numbers to doubles gets inf
    return value


class _DuplicateName(ValueError):
    pass


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"role":"viewer","role":"creator"}: parsers disagree on which one wins (Python keeps
    # the last, others the first), so a checker and a consumer could read different
    # bodies.  RFC 8259 leaves it open; refusing it is the only reading all agree on.
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateName
    return found


def loads_strict(data: bytes | str) -> Any:
    """RFC 8259 JSON with finite numbers only; `InvalidJson` otherwise.

    pydantic's JSON parser (and Python's by default) accept `NaN`, `Infinity` and
    overflow `1e400` to inf; strict parsers (JSON.parse, Go, Rust) then fail on every
    response that echoes them.  Every request body goes through here (json_model), so
    no route can forget it.  Cost: ~8 µs per KiB (json.loads of a 330 KB body: 3.2 ms
    on the 2-CPU dev box), paid only by requests that carry a body."""
    try:
        return json.loads(
            data,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_finite_int,
            object_pairs_hook=_unique_names,
        )
    except _DuplicateName:
        raise InvalidJson(_DUPLICATE_MESSAGE) from None
    except _NonFinite:
        raise InvalidJson(_NON_FINITE_MESSAGE) from None
    except (ValueError, RecursionError):  # syntax, bad UTF-8, over-long int, nesting
        raise InvalidJson() from None


def require_finite_json(data: bytes | str) -> None:
    """`InvalidJson` unless `data` is JSON whose numbers are all finite doubles."""
    loads_strict(data)


def _require_json_content_type(content_type: str | None) -> None:
    # A missing Content-Type is accepted as JSON: many clients omit it.
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType()


def _is_slug_rule(err: Mapping[str, Any]) -> bool:
    return bool((err.get("ctx") or {}).get("pattern") == SLUG_PATTERN)


def validation_details(exc: ValidationError, unknown: str = "unknown field") -> list[ErrorDetail]:
    """One detail per error; `unknown` names what an extra key is (a query parameter is
    not a field)."""
    details: list[ErrorDetail] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        message = unknown if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "string_pattern_mismatch" and _is_slug_rule(err):
            message = SLUG_MESSAGE  # not the regex: say what a slug is
        details.append({"field": loc, "message": message})
    return details


def choose_request_id(event: Mapping[str, Any]) -> str:
    """The client's X-Request-ID when well-formed, else the gateway's request id."""
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if name.lower() == "x-request-id" and isinstance(value, str):
            if _REQUEST_ID.fullmatch(value):
                return value
            break
    context = event.get("requestContext") or {}
    return str(context.get("requestId") or "-")


def body_size(event: Mapping[str, Any]) -> int:
    """Decoded body size, computed without decoding (413 comes before any parsing)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return len(body.encode("utf-8")) if not body.isascii() else len(body)
    padding = body[-2:].count("=")
    return len(body) * 3 // 4 - padding


def parse_request(event: Mapping[str, Any], request_id: str, max_body: int) -> Request:
    if body_size(event) > max_body:
        raise PayloadTooLarge(f"The request body is larger than {max_body} bytes.")
    raw = event.get("body") or ""
    try:
        body = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except ValueError:
        raise InvalidJson("The request body is not valid base64.") from None
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    return Request(
        route_key=str(event.get("routeKey", "")),
        method=str(http.get("method", "")).upper(),
        path=str(http.get("path") or event.get("rawPath") or ""),
        path_params=dict(event.get("pathParameters") or {}),
        query=dict(event.get("queryStringParameters") or {}),
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
        body=body,
        request_id=request_id,
        raw_event=event,
    )


def dumps_strict(body: Any) -> str:
    """The one serialisation of response bodies: strict JSON (RFC 8259).

    allow_nan=False: a non-finite float raises ValueError instead of writing `NaN`
    (which no strict parser reads); inside a route that is a 500 envelope, never a
    response a client cannot parse.  ensure_ascii=False keeps emoji/CJK as UTF-8
    bytes: smaller, and byte-exact round trips."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": dumps_strict(body),
        "isBase64Encoded": False,
    }


def text_response(status: int, text: str, content_type: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type},
        "body": text,
        "isBase64Encoded": False,
    }


def empty_response(status: int = 204) -> dict[str, Any]:
    return {"statusCode": status, "headers": {}, "body": "", "isBase64Encoded": False}


@with_config(ConfigDict(extra="forbid"))
class ErrorBody(TypedDict):
    code: ErrorCode
    message: str
    details: list[ErrorDetail]
    request_id: str


@with_config(ConfigDict(extra="forbid", title="Error"))
class ErrorView(TypedDict):
    """Every error has this shape; nothing else (no stack traces, no AWS text)."""

    error: ErrorBody


def error_response(error: ApiError, request_id: str) -> dict[str, Any]:
    body: ErrorView = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": request_id,
        }
    }
    return json_response(error.status, body, error.headers)


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The contract's list envelope."""
    return {"items": items, "next_cursor": next_cursor, "has_more": next_cursor is not None}
