"""Request bodies of the subscriptions API: create, change (PATCH), enable, resend.

Every body is strict JSON with unknown fields refused (`BodyModel`).  The rules on
custom headers live here once, so create and PATCH cannot disagree, and the OpenAPI
document is generated from these very models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StrictStr, field_validator

from common.runtime.models import INTEGRAL, BodyModel
from common.triggers import ssrf

MAX_EVENT_TYPE_FILTERS = 50
MAX_HEADERS = 10
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 1024
MIN_RATE, MAX_RATE = 1, 1000
_FILTER = re.compile(r"^[^*]{1,253}\.\*$|^[^*]{1,255}$")
# RFC 7230 section 3.2.6: token = 1*tchar.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Printable ASCII and space: what every HTTP stack sends unchanged (no obs-text, no
# control characters that would split or smuggle a header).
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
# Headers dockhand sets on every delivery (the contract's list), and hop-by-hop headers
# whose meaning belongs to the connection, not to the receiver's application: a custom
# value would contradict what the sender does.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent"}
    | {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
)
RESERVED_PREFIXES = ("webhook-", "proxy-")

EventTypeFilter = Annotated[StrictStr, Field(min_length=1, max_length=255)]
EventTypeFilters = Annotated[
    list[EventTypeFilter], Field(min_length=1, max_length=MAX_EVENT_TYPE_FILTERS)
]
Url = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=ssrf.MAX_URL_LENGTH,
        pattern=r"^[hH][tT][tT][pP][sS]?://",
        description="https:// on port 443 or 8443, whose host resolves only to public "
        "unicast addresses (`make run` also allows http://127.0.0.1:<port> and "
        "http://localhost:<port>).",
        json_schema_extra={"format": "uri"},
    ),
]
Description = Annotated[StrictStr, Field(max_length=255)]
HeaderValue = Annotated[
    StrictStr,
    Field(max_length=MAX_HEADER_VALUE, json_schema_extra={"pattern": "^[\\x20-\\x7e]*$"}),
]
Headers = Annotated[
    dict[StrictStr, HeaderValue],
    Field(
        max_length=MAX_HEADERS,
        json_schema_extra={
            "propertyNames": {"pattern": _TOKEN.pattern, "maxLength": MAX_HEADER_NAME}
        },
        description="Sent with every delivery. Names are RFC 7230 tokens of at most 64 "
        "characters (not webhook-*, content-type, content-length, host, user-agent, nor "
        "hop-by-hop ones); values at most 1024 printable ASCII characters.",
    ),
]
RateLimit = Annotated[
    int,
    Field(
        ge=MIN_RATE,
        le=MAX_RATE,
        description="Deliveries a second to this subscription at most; more wait, none is dropped.",
    ),
    INTEGRAL,
]


def check_filters(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        if not _FILTER.match(value):
            raise ValueError("each entry is an event type or `prefix.*`")
    return list(dict.fromkeys(values))


def check_headers(values: dict[str, str] | None) -> dict[str, str] | None:
    """The custom headers, refused as a whole when one breaks a rule (named in the error)."""
    if values is None:
        return None
    seen: set[str] = set()
    for name, value in values.items():
        lower = name.lower()
        if len(name) > MAX_HEADER_NAME or not _TOKEN.match(name):
            raise ValueError(f"header name {name[:64]!r} is not a token of 1 to 64 characters")
        if lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIXES):
            raise ValueError(f"header {name!r} is set by dockhand and cannot be overridden")
        if lower in seen:
            raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
        seen.add(lower)
        if len(value) > MAX_HEADER_VALUE or not _PRINTABLE.match(value):
            raise ValueError(
                f"the value of header {name!r} must be at most 1024 printable ASCII characters"
            )
    return dict(values)


class NewSubscription(BodyModel):
    url: Url
    event_types: EventTypeFilters | None = None
    description: Description | None = None
    headers: Headers | None = None
    rate_limit_per_second: RateLimit | None = None

    _filters = field_validator("event_types")(classmethod(lambda cls, v: check_filters(v)))
    _headers = field_validator("headers")(classmethod(lambda cls, v: check_headers(v)))


def _url_has_no_default(schema: dict[str, Any]) -> None:
    # Absent means "keep the url"; a `null` default would state a value the body refuses.
    schema["properties"]["url"].pop("default", None)


# A change has a new subscription's fields and rules, except that `url` may be left out.
class SubscriptionChange(NewSubscription):
    """PATCH: the fields given are changed, the others kept (RFC 7396 merge semantics:
    `null` clears an optional field; `{}` changes nothing).  `headers` replaces the
    whole set.  The secret never changes here (rotate-secret does that)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_url_has_no_default)

    url: Url = Field(default=None)  # type: ignore[assignment]  # absent ok, null refused

    @field_validator("url", mode="before")
    @classmethod
    def _url_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("a subscription always has a url")
        return value


class EnableRequest(BodyModel):
    """Optional body of POST .../enable: `recover` false skips sending what matched
    while the subscription was paused or disabled."""

    recover: StrictBool = True


class ResendRequest(BodyModel):
    event_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
