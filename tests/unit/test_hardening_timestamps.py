"""Hardening 2, "Every date and time is checked": a well-formed timestamp outside
years 0001-9999 once converted to UTC is 400 validation_error on every field and
parameter that takes one, never 500 (issue #25: OverflowError in clock.parse_iso).

The positions are found, not listed: every request-body property and every query
parameter whose schema in the OpenAPI document (built from the request models) says
`format: date-time` or `format: date`.  A new field of the shared `Timestamp` type is
covered the day it is added; a field that takes a time some other way fails
`test_every_time_field_uses_the_one_rfc3339_type`.  Each route starts from its sample
event's body (tests/events/) so the only thing wrong is the time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from common.runtime import clock
from common.runtime.models import TIMESTAMP_MESSAGE, TIMESTAMP_RANGE_MESSAGE, TimestampRule
from common.triggers import ssrf
from tests.conftest import ApiClient, Keys, Result
from tests.unit.delivery_support import make_pipeline
from tools.gen.openapi import route_table

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((REPO / "common" / "openapi.json").read_text("utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]
SAMPLES = REPO / "tests" / "events"
TIME_FORMATS = ("date-time", "date")
Path_ = tuple[str | int, ...]

# Well-formed, outside years 0001-9999 once in UTC (or no such instant): 400.
HOSTILE_TIMES = (
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00.000+00:01",
    "0001-01-01t00:00:00.5+00:30",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999-00:01",
    "9999-12-31T23:59:59.999999999-23:59",
    "0000-01-01T00:00:00Z",
    "0000-12-31T23:59:59-01:00",
    "2024-02-30T00:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-05-01T24:00:00Z",
    "2024-05-01T12:60:00Z",
    "2024-05-01T12:00:60Z",
    "2024-05-01T12:00:00+24:00",
    "2024-05-01T12:00:00+23:60",
    "2024-05-01T12:00:00",  # no offset
    "2024-05-01 12:00:00Z",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
)
# The calendar's very edges, in range once in UTC: accepted (never a 5xx).
EDGE_TIMES = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59+14:00",
)
HOSTILE_DATES = (
    "0000-01-01",
    "2024-02-30",
    "2023-02-29",
    "2024-13-01",
    "10000-01-01",
    "-001-01-01",
)
EDGE_DATES = ("0001-01-01", "9999-12-31")


# --------------------------------------------------------------------------- positions


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _time_positions(schema: dict[str, Any], path: Path_ = ()) -> Iterator[Path_]:
    schema = _resolve(schema)
    if schema.get("format") in TIME_FORMATS:
        yield path
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _time_positions(sub, path)
    for name, sub in schema.get("properties", {}).items():
        yield from _time_positions(sub, (*path, name))
    if isinstance(schema.get("items"), dict):
        yield from _time_positions(schema["items"], (*path, 0))


def _cases() -> tuple[list[tuple[str, Path_]], list[tuple[str, str, str]]]:
    bodies, queries = [], []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                bodies += [(route, p) for p in dict.fromkeys(_time_positions(body["schema"]))]
            for param in operation.get("parameters", []):
                fmt = _resolve(param.get("schema", {})).get("format")
                if param["in"] == "query" and fmt in TIME_FORMATS:
                    queries.append((route, param["name"], fmt))
    return bodies, queries


BODY_CASES, QUERY_CASES = _cases()


def _sample_bodies() -> dict[str, Any]:
    found = {}
    for sample in sorted(SAMPLES.glob("*.json")):
        event = json.loads(sample.read_text("utf-8"))
        if isinstance(event, dict) and event.get("body") and not event.get("isBase64Encoded"):
            found.setdefault(event["routeKey"], json.loads(event["body"]))
    return found


SAMPLE_BODIES = _sample_bodies()


def _place(body: Any, path: Path_, value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        items[0] = _place(items[0], rest, value)
        return items
    copy = dict(body) if isinstance(body, dict) else {}
    copy[head] = _place(copy.get(head), rest, value)
    return copy


def _model_fields(model: type[BaseModel], path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """(path, FieldInfo) of every field of `model` and of the models nested in it."""
    for name, info in model.model_fields.items():
        yield (*path, name), info
        for nested in _nested_models(info.annotation):
            yield from _model_fields(nested, (*path, name))


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _nested_models(arg)


def _takes_time(info: Any) -> bool:
    extra = info.json_schema_extra
    return (
        (isinstance(extra, dict) and extra.get("format") == "date-time")
        or any(isinstance(m, TimestampRule) for m in info.metadata)
        or any(_takes_time_annotation(a) for a in getattr(info.annotation, "__args__", ()))
    )


def _takes_time_annotation(annotation: Any) -> bool:
    metadata = getattr(annotation, "__metadata__", ())
    return any(isinstance(m, TimestampRule) for m in metadata) or any(
        getattr(m, "json_schema_extra", None) == {"format": "date-time"} for m in metadata
    )


def _uses_the_rule(info: Any) -> bool:
    if any(isinstance(m, TimestampRule) for m in info.metadata):
        return True
    return any(
        any(isinstance(m, TimestampRule) for m in getattr(a, "__metadata__", ()))
        for a in getattr(info.annotation, "__args__", ())
    )


# --------------------------------------------------------------------------- coverage


def test_the_walk_finds_every_known_time_field() -> None:
    found = {(route, path) for route, path in BODY_CASES}
    assert {
        ("POST /events", ("occurred_at",)),
        ("POST /hydrate", ("captured_at",)),
        ("POST /hydrate", ("commits", 0, "timestamp")),
        ("POST /subscriptions/{subscription_id}/replay", ("since",)),
        ("POST /subscriptions/{subscription_id}/replay", ("until",)),
    } <= found
    assert {(r, n) for r, n, _ in QUERY_CASES} >= {
        ("GET /stats", "day"),
        ("GET /stats", "from"),
        ("GET /stats", "to"),
    }
    assert all(route in SAMPLE_BODIES for route, _ in BODY_CASES), "a route has no sample body"


def test_every_time_field_uses_the_one_rfc3339_type() -> None:
    """No request model takes a time through a validator of its own (issue #24/#25)."""
    checked = 0
    for operation in route_table().values():
        if operation.body is None:
            continue
        for path, info in _model_fields(operation.body):
            if _takes_time(info):
                checked += 1
                assert _uses_the_rule(info), (operation.body.__name__, path)
    assert checked >= 5


def test_the_one_parser_refuses_out_of_range_times_with_valueerror() -> None:
    for text in HOSTILE_TIMES:
        with pytest.raises(ValueError, match=r"RFC 3339|0001-9999|out of range|must be"):
            clock.parse_iso(text)
    for text in EDGE_TIMES:
        assert clock.parse_iso(clock.iso(clock.parse_iso(text))) == clock.parse_iso(text)
    assert clock.iso(clock.parse_iso("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00.000Z"


# --------------------------------------------------------------------------- sending


@pytest.fixture
def subscription_id(api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> str:
    make_pipeline(monkeypatch)  # a delivery queue: an in-range replay really starts
    monkeypatch.setattr(ssrf, "system_resolver", lambda host, port: ["93.184.216.34"])
    made = api.post("/subscriptions", key=keys.creator, json_body={"url": "https://x.test/h"})
    assert made.status == 201, made.text
    return str(made.json["subscription_id"])


def _send(api: ApiClient, key: str, route: str, body: Any, subscription_id: str) -> Result:
    method, template = route.split(" ", 1)
    path = template.replace("{subscription_id}", subscription_id)
    return api.call(method, path, key=key, json_body=body)


@pytest.mark.parametrize(("route", "path"), BODY_CASES, ids=lambda v: str(v).replace(" ", ""))
def test_every_body_time_refuses_hostile_values(
    api: ApiClient, keys: Keys, subscription_id: str, route: str, path: Path_
) -> None:
    base = SAMPLE_BODIES[route]
    for text in HOSTILE_TIMES:
        result = _send(api, keys.creator, route, _place(base, path, text), subscription_id)
        assert result.status == 400, (route, path, text, result.text)
        assert result.error_code == "validation_error", (route, path, text, result.text)
        fields = {detail["field"] for detail in result.json["error"]["details"]}
        assert ".".join(str(step) for step in path) in fields, (path, fields)
    for text in EDGE_TIMES:  # accepted as times (a route may still refuse the body's sense)
        result = _send(api, keys.creator, route, _place(base, path, text), subscription_id)
        assert result.status < 500, (route, path, text, result.text)
        if result.status >= 400:
            messages = {detail["message"] for detail in result.json["error"]["details"]}
            assert not messages & {TIMESTAMP_MESSAGE, TIMESTAMP_RANGE_MESSAGE}, (path, text)


@pytest.mark.parametrize(("route", "name", "fmt"), QUERY_CASES)
def test_every_time_query_parameter_refuses_hostile_values(
    api: ApiClient, keys: Keys, route: str, name: str, fmt: str
) -> None:
    path = route.split(" ", 1)[1]
    hostile = HOSTILE_DATES if fmt == "date" else HOSTILE_TIMES
    edges = EDGE_DATES if fmt == "date" else EDGE_TIMES
    partner = {"from": "to", "to": "from"}.get(name)
    for text in hostile:
        query = {name: text, **({partner: "2024-05-01"} if partner else {})}
        result = api.get(path, key=keys.viewer, query=query)
        assert result.status == 400, (route, name, text, result.text)
        assert result.error_code == "validation_error", (route, name, text, result.text)
    for text in edges:
        query = {name: text, **({partner: text} if partner else {})}
        result = api.get(path, key=keys.viewer, query=query)
        assert result.status < 500, (route, name, text, result.text)
        assert result.status in (200, 404), (route, name, text, result.text)
