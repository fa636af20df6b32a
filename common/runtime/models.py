"""Building blocks for request models: every body and every query string is validated
by a pydantic model (`Request.json_model` / `Request.query_model`), never by hand.

Bodies are strict JSON (no silent coercion of "5" to 5), with one exception JSON
Schema itself makes: an integral number such as `155.0` *is* an integer, so a field
marked `INTEGRAL` accepts it.  Query values arrive as strings; the `query_*` types
below parse them with the contract's messages and give the OpenAPI document the same rule
(`WithJsonSchema`), so the document and the validation cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from common.runtime import clock
from common.runtime.slug import SLUG_MESSAGE, SLUG_PATTERN, is_slug

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def invalid(message: str) -> PydanticCustomError:
    """A validation failure whose message is exactly `message` (no pydantic prefix)."""
    return PydanticCustomError("invalid", message)


class BodyModel(BaseModel):
    """A JSON request body: unknown fields refused, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Query parameters: unknown ones refused; every value is a string until parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a JSON body; 155.0 is one (JSON Schema's rule), "155" and true are not.
# Put INTEGRAL after the constraints (`Annotated[int, Field(ge=1), INTEGRAL]`): the
# constraints then stay in the document as minimum/maximum.
INTEGRAL = BeforeValidator(_integral)


class TimestampRule:
    """Marks a field that takes a date-time: every such field is validated by
    `clock.parse_iso` (the one parser), and tests/unit/test_hardening_timestamps.py finds
    them all by this mark to send each one hostile values."""

    def __init__(self, normalise: bool) -> None:
        self.normalise = normalise

    def __call__(self, value: str) -> str:
        if not clock.RFC3339.fullmatch(value):
            raise invalid(TIMESTAMP_MESSAGE)
        try:
            moment = clock.parse_iso(value)
        except ValueError:
            raise invalid(TIMESTAMP_RANGE_MESSAGE) from None
        return clock.iso(moment) if self.normalise else value


TIMESTAMP_MESSAGE = "must be an RFC 3339 timestamp with a time zone, e.g. 2024-05-01T12:00:00Z"
TIMESTAMP_RANGE_MESSAGE = (
    "must be a valid RFC 3339 timestamp, in years 0001-9999 once converted to UTC"
)
_DATE_TIME = Field(json_schema_extra={"format": "date-time"})
_NORMALISED, _AS_SENT = TimestampRule(normalise=True), TimestampRule(normalise=False)
# The one RFC 3339 type of request bodies. `Timestamp` stores the contract's UTC
# millisecond form (`clock.iso`); `TimestampAsSent` keeps the client's text (a commit's
# own offset, say) once it has passed the same check.
Timestamp = Annotated[StrictStr, _DATE_TIME, AfterValidator(_NORMALISED), _NORMALISED]
TimestampAsSent = Annotated[StrictStr, _DATE_TIME, AfterValidator(_AS_SENT), _AS_SENT]


class QueryRule(GroupedMetadata):
    """A query-string rule: a parser (strings in) and the JSON Schema that states it.

    Used as `Annotated[int, query_int(1, 200)]`: one object, so the OpenAPI document is
    generated from the very rule the validation applies.  `typed` is the same rule for a
    value that arrives already typed (an MCP tool's JSON argument, its type checked
    first): same bounds, same message, no round trip through a string."""

    def __init__(
        self,
        parse: Callable[[Any], Any],
        schema: dict[str, Any],
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        self.parse = parse
        self.schema = schema
        self.typed = AfterValidator(check or parse)

    def __iter__(self) -> Iterator[Any]:
        yield BeforeValidator(self.parse)
        yield WithJsonSchema(self.schema)


def query_int(low: int, high: int) -> QueryRule:
    """An integer query parameter from `low` to `high`, ASCII digits only."""
    message = f"must be an integer from {low} to {high}"

    def check(value: int) -> int:
        if low <= value <= high:
            return value
        raise invalid(message)

    def parse(raw: Any) -> int:
        # isascii: str.isdigit() also accepts "²" and other scripts' digits.
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            return check(int(raw))
        raise invalid(message)

    return QueryRule(parse, {"type": "integer", "minimum": low, "maximum": high}, check)


def query_choice(choices: Sequence[str]) -> QueryRule:
    """One of `choices`; an empty value is refused like any other (the document's enum)."""

    def parse(raw: Any) -> str:
        if isinstance(raw, str) and raw in choices:
            return raw
        raise invalid(f"must be one of {', '.join(choices)}")

    return QueryRule(parse, {"enum": list(choices)})


def query_text(max_length: int, description: str = "", pattern: str | None = None) -> QueryRule:
    """A non-empty string parameter of at most `max_length` characters."""
    compiled = re.compile(pattern) if pattern else None

    def parse(raw: Any) -> str:
        if not isinstance(raw, str) or not 1 <= len(raw) <= max_length:
            # A value with a shape (a date, say) has one rule to state, whatever is wrong.
            rule = description if compiled is not None and description else None
            raise invalid(rule or f"must be 1-{max_length} characters")
        if compiled is not None and not compiled.fullmatch(raw):
            raise invalid(description or f"must match {pattern}")
        return raw

    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if pattern:
        schema["pattern"] = pattern
    if description:
        schema["description"] = description
    return QueryRule(parse, schema)


def query_date(description: str = "must be a date, YYYY-MM-DD") -> QueryRule:
    """A calendar day, YYYY-MM-DD, that exists (years 0001-9999: a date has no offset to
    push it out).  The schema says `format: date`, which is how
    tests/unit/test_hardening_timestamps.py finds every parameter that takes a time."""
    pattern = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def parse(raw: Any) -> str:
        if not isinstance(raw, str) or not pattern.fullmatch(raw):
            raise invalid(description)
        try:
            date.fromisoformat(raw)
        except ValueError:
            raise invalid(description) from None
        return raw

    schema = {
        "type": "string",
        "format": "date",
        "minLength": 10,
        "maxLength": 10,
        "pattern": f"^{pattern.pattern}$",
        "description": description,
    }
    return QueryRule(parse, schema)


def query_slug() -> QueryRule:
    def parse(raw: Any) -> str:
        if isinstance(raw, str) and is_slug(raw):
            return raw
        raise invalid(SLUG_MESSAGE)

    return QueryRule(parse, {"type": "string", "pattern": SLUG_PATTERN})


# The contract's list parameters, named so an MCP tool applies the very same rules to its
# typed arguments (`SLUG.typed`, `LIMIT.typed`, `CURSOR.typed`).
SLUG, LIMIT = query_slug(), query_int(1, MAX_LIMIT)
CURSOR = query_text(
    4096,
    "Opaque: pass a `next_cursor` back exactly as it was returned. Any other value, or "
    "one from another tenant or query, is 400 invalid_cursor.",
)
SlugParam = Annotated[str, SLUG]
Limit = Annotated[int, LIMIT]
Cursor = Annotated[str, CURSOR]


class PageQuery(QueryModel):
    """`limit` and `cursor`, the contract's list parameters."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


# ---------------------------------------------------------------- response views
# Responses are plain dicts built by the domain; these annotated types describe them
# (TypedDict views), and tools/gen/openapi.py turns the views into the document's
# schemas with pydantic's TypeAdapter at build time: no response model runs per request.

Time = Annotated[str, Field(description="RFC 3339 UTC, millisecond precision, Z")]
Id = Annotated[str, Field(description="Opaque id; sorts in creation order")]
Count = Annotated[int, Field(ge=0)]
Redactions = Annotated[
    dict[str, Count], Field(description="Secrets the server redacted before storing, by kind.")
]
