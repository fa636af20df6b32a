"""Building blocks for request models: every body and every query string is validated
by a pydantic model (`Request.json_model` / `Request.query_model`), never by hand.

Bodies are strict JSON (no silent coercion of "5" to 5), with one exception JSON
Schema itself makes: an integral number such as `155.0` *is* an integer, so `Int`
accepts it.  Query values arrive as strings; the `query_*` types below parse them
with the contract's messages and give the OpenAPI document the same rule
(`WithJsonSchema`), so the document and the validation cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

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
Int = Annotated[int, INTEGRAL]


class QueryRule(GroupedMetadata):
    """A query-string rule: a parser (strings in) and the JSON Schema that states it.

    Used as `Annotated[int, query_int(1, 200)]`: one object, so the OpenAPI document is
    generated from the very rule the validation applies."""

    def __init__(self, parse: Callable[[Any], Any], schema: dict[str, Any]) -> None:
        self.parse = parse
        self.schema = schema

    def __iter__(self) -> Iterator[Any]:
        yield BeforeValidator(self.parse)
        yield WithJsonSchema(self.schema)


def query_int(low: int, high: int) -> QueryRule:
    """An integer query parameter from `low` to `high`, ASCII digits only."""

    def parse(raw: Any) -> int:
        # isascii: str.isdigit() also accepts "²" and other scripts' digits.
        if isinstance(raw, str) and raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
            return int(raw)
        raise invalid(f"must be an integer from {low} to {high}")

    return QueryRule(parse, {"type": "integer", "minimum": low, "maximum": high})


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


def query_slug() -> QueryRule:
    def parse(raw: Any) -> str:
        if isinstance(raw, str) and is_slug(raw):
            return raw
        raise invalid(SLUG_MESSAGE)

    return QueryRule(parse, {"type": "string", "pattern": SLUG_PATTERN})


SlugParam = Annotated[str, query_slug()]
Limit = Annotated[int, query_int(1, MAX_LIMIT)]
Cursor = Annotated[
    str,
    query_text(
        4096,
        "Opaque: pass a `next_cursor` back exactly as it was returned. Any other value, or "
        "one from another tenant or query, is 400 invalid_cursor.",
    ),
]


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
