"""What a route's declaration may add for its OpenAPI entry beyond its types: plain
data, read only by tools/gen/openapi.py (nothing here runs on a request).

Most routes need none of it: the body and query models come from the function's
annotations and the responses from the TypedDict views it names.  These are for the
few answers no model describes (a header, an HTML page, JSON-RPC), and they live next
to the code they describe (the agent signature in common.agents.signing, JSON-RPC in
common.mcp.document), not in the handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Param:
    """A header (or query) parameter no query model declares."""

    name: str
    schema: Schema
    required: bool = False
    where: str = "query"
    description: str = ""


@dataclass(frozen=True)
class Page:
    """The list envelope (`items`, `next_cursor`, `has_more`) of `item` views."""

    item: type


@dataclass(frozen=True)
class Named:
    """A response schema written by hand (no view describes it), with the components
    it refers to by name (TypedDict views, or more hand-written schemas)."""

    name: str
    schema: Schema
    refers_to: Mapping[str, Schema | type] = field(default_factory=dict)


# A response body: a TypedDict view, a page of views, a hand-written schema; None: no body.
Body = type | Page | Named | None


@dataclass(frozen=True)
class Extras:
    """Doc-only facts about a route: extra error statuses, alternative media types."""

    errors: tuple[int, ...] = ()  # beyond the ones derived from auth, body and params
    params: tuple[Param, ...] = ()
    markdown: bool = False  # 200 may also be text/markdown (with X-Token-Estimate)
    csv: bool = False  # 200 may also be text/csv
    html: bool = False  # 200 is an HTML document (no JSON)
    raw_body: Schema | None = None  # a body no pydantic model describes (JSON-RPC)
    # status → (schema, description) of error answers that are not the Error envelope
    own_errors: Mapping[int, tuple[Named, str]] = field(default_factory=dict)
