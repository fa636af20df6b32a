"""Domain errors; the dispatcher maps each to the contract's error envelope."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

# The contract's error codes: the document's enum (tools/gen/openapi.py reads this type).
ErrorCode = Literal[
    "invalid_json",
    "validation_error",
    "invalid_cursor",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "service_unavailable",
    "internal_error",
]


@with_config(ConfigDict(extra="forbid"))
class ErrorDetail(TypedDict):
    """What is wrong with one field (a body path like `labels.env`, or a parameter)."""

    field: str
    message: str


class ApiError(Exception):
    """An error the client may see: a code, a status and a safe message."""

    status = 500
    code: ErrorCode = "internal_error"
    default_message = "Internal error."

    def __init__(
        self,
        message: str | None = None,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details or []
        self.headers = headers or {}


class InvalidJson(ApiError):
    status, code, default_message = 400, "invalid_json", "The request body is not valid JSON."


class ValidationFailed(ApiError):
    status, code, default_message = 400, "validation_error", "The request is not valid."


class InvalidCursor(ApiError):
    status, code, default_message = 400, "invalid_cursor", "The cursor is not valid here."


class Unauthorized(ApiError):
    status, code, default_message = 401, "unauthorized", "Missing or invalid credentials."


class Forbidden(ApiError):
    # Raised for a viewer key on a write route (common/access/auth.require_role): the
    # message names the role needed, so the fix is obvious.
    status, code, default_message = (
        403,
        "forbidden",
        "This needs a key with the creator role; this key is a viewer key (read-only).",
    )


class NotFound(ApiError):
    status, code, default_message = 404, "not_found", "Not found."


class Conflict(ApiError):
    status, code, default_message = 409, "conflict", "Conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"
    default_message = "Send the body as application/json."


class RateLimited(ApiError):
    status, code, default_message = 429, "rate_limited", "Too many requests."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"
    default_message = "A backing service is busy or unavailable; retry later."

    def __init__(self, retry_after: int = 1, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class InternalError(ApiError):
    """Something is wrong on our side; the cause is logged, never returned."""


def field_error(field: str, message: str) -> ValidationFailed:
    """A validation error about one field (query parameters, path parameters)."""
    return ValidationFailed(details=[{"field": field, "message": message}])
