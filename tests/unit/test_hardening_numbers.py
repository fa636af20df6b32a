"""Hardening, class 1: JSON numbers must be finite, in every request body and every response.

The hostile positions are generated from the OpenAPI document (common/openapi.json,
built from the request models): every numeric field of every request model, every
other property too (a number where a string belongs must still be `invalid_json`,
not `validation_error`: the parser refuses it first), and values nested at depth in
every free-form object (event payloads, agent labels).  Each route starts from its
sample event's body (tests/events/) so that the only thing wrong is the number; a
finite twin of every hostile body proves the route really looked at it.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.agents import registry as agents
from common.runtime import http
from common.runtime.errors import InvalidJson
from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import register, signed_headers

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((REPO / "common" / "openapi.json").read_text("utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]
SAMPLES = REPO / "tests" / "events"

# Every spelling of a number that is not a finite double.
HOSTILE = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1E+400",
    "2e308",
    "-1.8e308",
    "0.1e310",
    "1" + "0" * 309,  # an integer literal beyond a double's range
    "-" + "9" * 400,
)
FINITE_TWIN = "1.5"
MARK = "__hostile_number__"
Path_ = tuple[str | int, ...]


# --------------------------------------------------------------------------- positions


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _positions(schema: dict[str, Any], path: Path_, depth: int = 0) -> Iterator[Path_]:
    """Every place in a body of `schema` a value can go: properties (recursively),
    array items, and three levels deep inside free-form objects."""
    schema = _resolve(schema)
    if depth > 10:
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _positions(sub, path, depth + 1)
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if path:
        yield path
    for name, sub in schema.get("properties", {}).items():
        yield from _positions(sub, (*path, name), depth + 1)
    if "array" in types and isinstance(schema.get("items"), dict):
        yield from _positions(schema["items"], (*path, 0), depth + 1)
    extra = schema.get("additionalProperties")
    if extra not in (None, False):
        yield (*path, "k")
        yield (*path, "deep", "list", 0, "n")  # nested payload values
        if isinstance(extra, dict) and extra:
            yield from _positions(extra, (*path, "k"), depth + 1)
    free_form = not types[0] and not any(k in schema for k in ("properties", "enum", "const"))
    if free_form and path and not any(k in schema for k in ("anyOf", "oneOf", "allOf")):
        yield (*path, "deep", "list", 0, "n")


def _numeric(schema: dict[str, Any], path: Path_) -> bool:
    for step in path:
        schema = _resolve(schema)
        for key in ("anyOf", "oneOf"):
            for sub in schema.get(key, []):
                if _resolve(sub).get("properties") or _resolve(sub).get("items"):
                    schema = _resolve(sub)
        if isinstance(step, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(step, {})
    schema = _resolve(schema)
    kinds: list[Any] = []
    for part in [schema, *(_resolve(s) for s in schema.get("anyOf", []))]:
        kind = part.get("type")
        kinds += kind if isinstance(kind, list) else [kind]
    return bool({"number", "integer"} & set(kinds))


def _body_routes() -> dict[str, dict[str, Any]]:
    routes = {}
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body:
                schema = body["content"]["application/json"]["schema"]
                routes[f"{method.upper()} {path}"] = schema
    return routes


BODY_ROUTES = _body_routes()


def _sample_bodies() -> dict[str, Any]:
    found = {}
    for sample in sorted(SAMPLES.glob("*.json")):
        event = json.loads(sample.read_text("utf-8"))
        if isinstance(event, dict) and event.get("body") and not event.get("isBase64Encoded"):
            found.setdefault(event["routeKey"], json.loads(event["body"]))
    return found


SAMPLE_BODIES = _sample_bodies()


def _place(body: Any, path: Path_) -> Any:
    """A copy of `body` with MARK at `path`, creating what is missing on the way."""
    if not path:
        return MARK
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        items[0] = _place(items[0], rest)
        return items
    copy = dict(body) if isinstance(body, dict) else {}
    copy[head] = _place(copy.get(head), rest)
    return copy


def _cases() -> list[tuple[str, Path_]]:
    cases = []
    for route, schema in sorted(BODY_ROUTES.items()):
        cases.append((route, ()))  # the whole body
        cases += [(route, path) for path in dict.fromkeys(_positions(schema, ()))]
    return cases


CASES = _cases()


def test_every_numeric_field_of_every_request_model_is_covered() -> None:
    numeric = {(r, p) for r, p in CASES if p and _numeric(BODY_ROUTES[r], p)}
    # The document's numeric fields today: heartbeat figures, note and marker lines.
    assert len(numeric) >= 8, numeric
    routes_with_free_form = {r for r, p in CASES if "deep" in p}
    assert {"POST /events", "POST /agents"} <= routes_with_free_form
    assert set(SAMPLE_BODIES) >= {"POST /events", "POST /hydrate", "POST /notes"}


# --------------------------------------------------------------------------- sending


class Sender:
    def __init__(self, api: ApiClient, keys: Keys) -> None:
        self.api, self.keys = api, keys
        self._agent: dict[str, Any] | None = None

    def send(self, route: str, text: str) -> Any:
        method, template = route.split(" ", 1)
        if "{agent_id}" in template:
            agent = self.agent()
            path = agents.heartbeat_path(agent["agent_id"])
            headers = signed_headers(agent["agent_id"], agent["secret"], text.encode())
            return self.api.call(method, path, body=text, headers=headers)
        headers = {"content-type": "application/json"}
        path = template.replace("{", "").replace("}", "")
        return self.api.call(method, path, key=self.keys.creator, body=text, headers=headers)

    def agent(self) -> dict[str, Any]:
        if self._agent is None:
            self._agent = register(self.api, self.keys.creator, "numbers-agent")
        return self._agent


@pytest.fixture
def sender(api: ApiClient, keys: Keys) -> Sender:
    return Sender(api, keys)


def _text(route: str, path: Path_, token: str) -> str:
    body = _place(SAMPLE_BODIES.get(route, {}), path)
    return json.dumps(body).replace(json.dumps(MARK), token)


@pytest.mark.parametrize(("route", "path"), CASES, ids=lambda v: str(v).replace(" ", ""))
def test_a_non_finite_number_anywhere_is_invalid_json(
    sender: Sender, route: str, path: Path_
) -> None:
    for token in HOSTILE:
        result = sender.send(route, _text(route, path, token))
        assert result.status == 400, (route, path, token, result.text)
        if route == "POST /mcp":  # JSON-RPC answers in its own envelope: a parse error
            assert result.json["error"]["code"] == -32700, (path, token, result.text)
        else:
            assert result.error_code == "invalid_json", (route, path, token, result.text)
        json.loads(result.text, parse_constant=_refuse)  # the refusal itself is strict JSON
    # The same body with a finite number is JSON the route reads (accepted, or refused
    # for another reason): the test's bodies are not broken in some other way.
    twin = sender.send(route, _text(route, path, FINITE_TWIN))
    if twin.status >= 400 and route == "POST /mcp":  # a message, or a batch's answers
        answers = twin.json if isinstance(twin.json, list) else [twin.json]
        assert all(a.get("error", {}).get("code") != -32700 for a in answers), twin.text
    elif twin.status >= 400:
        assert twin.error_code != "invalid_json", (route, path, twin.text)


def test_the_whole_body_and_arrays_of_them(sender: Sender) -> None:
    for token in HOSTILE:
        for text in (token, f"[{token}]", f'{{"event_type":"t","payload":[1,{token}]}}'):
            result = sender.send("POST /events", text)
            assert (result.status, result.error_code) == (400, "invalid_json"), text


def test_large_finite_numbers_round_trip_exactly(api: ApiClient, keys: Keys) -> None:
    values = [sys.float_info.max, -sys.float_info.max, 5e-324, 1e-400, 2**63, -(2**53) - 1]
    text = json.dumps({"event_type": "big", "payload": {"v": values}})
    created = api.post(
        "/events", key=keys.creator, body=text, headers={"content-type": "application/json"}
    )
    assert created.status == 201, created.text
    read = api.get(f"/events/{created.json['event_id']}", key=keys.creator)
    stored = json.loads(read.text, parse_constant=_refuse)["payload"]["v"]
    assert stored == [sys.float_info.max, -sys.float_info.max, 5e-324, 0.0, 2**63, -(2**53) - 1]


def test_nothing_non_finite_is_stored_so_reads_stay_strict(api: ApiClient, keys: Keys) -> None:
    headers = {"content-type": "application/json"}
    for token in HOSTILE:
        body = f'{{"event_type":"t","payload":{{"x":{token}}}}}'
        api.post("/events", key=keys.creator, body=body, headers=headers)
    inbox = api.get("/inbox", key=keys.creator)
    assert inbox.status == 200
    assert json.loads(inbox.text, parse_constant=_refuse)["items"] == []


def _refuse(name: str) -> Any:
    raise AssertionError(f"{name} in a response")


# --------------------------------------------------------------------------- the two paths


@pytest.mark.parametrize("token", HOSTILE)
def test_loads_strict_refuses_every_spelling(token: str) -> None:
    with pytest.raises(InvalidJson):
        http.loads_strict(f'{{"a":{{"b":[{token}]}}}}')


@pytest.mark.parametrize("text", ["1.7976931348623157e308", "-0.0", "1e-400", "9" * 308, "0"])
def test_loads_strict_keeps_finite_extremes(text: str) -> None:
    value = http.loads_strict(text)
    assert math.isfinite(float(value))


def test_deep_nesting_is_invalid_json_not_a_crash() -> None:
    with pytest.raises(InvalidJson):
        http.loads_strict("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_cannot_leave_in_a_response(value: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        http.json_response(200, {"items": [{"n": value}]})


def test_a_route_that_builds_a_non_finite_answer_gets_a_strict_500() -> None:
    from common.api import Route, http_handler

    def infinite(_request: http.Request) -> dict[str, Any]:
        return http.json_response(200, {"x": math.inf})

    handler = http_handler("t", {"GET /t": Route(infinite, auth="none")})
    response = handler({"routeKey": "GET /t", "requestContext": {"requestId": "r1"}}, None)
    assert response["statusCode"] == 500
    body = json.loads(response["body"], parse_constant=_refuse)
    assert body["error"]["code"] == "internal_error"


def test_a_name_twice_in_one_object_is_invalid_json(sender: Sender) -> None:
    """Parsers disagree on which duplicate wins: no body may mean two things."""
    for text in (
        '{"event_type":"a","event_type":"b","payload":{}}',
        '{"event_type":"a","payload":{"x":1,"x":2}}',
        '{"event_type":"a","payload":{"deep":[{"k":1,"k":1}]}}',
    ):
        result = sender.send("POST /events", text)
        assert (result.status, result.error_code) == (400, "invalid_json"), text
    same_name_apart = '{"event_type":"a","payload":{"x":{"k":1},"y":{"k":2}}}'
    assert sender.send("POST /events", same_name_apart).status == 201
