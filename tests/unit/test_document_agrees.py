"""The OpenAPI document and the validation agree (issue #15 item 8): what the document
calls valid is accepted, what it calls invalid is refused, for every query parameter
derived from a query model and for integral numbers where an integer is declared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple, get_args, get_origin

import pytest

from tests.conftest import ApiClient, Keys
from tools.gen import openapi

DOCUMENT = openapi.build_document()


class QueryParam(NamedTuple):
    path: str
    name: str
    schema: dict[str, Any]
    required: bool


def _query_params() -> list[QueryParam]:
    found = []
    for route_key, op in openapi.route_table().items():
        if op.query is None:
            continue
        method, path = route_key.split(" ", 1)
        for param in DOCUMENT["paths"][path][method.lower()]["parameters"]:
            if param["in"] == "query":
                found.append(
                    QueryParam(path, param["name"], param["schema"], param.get("required", False))
                )
    return found


QUERY_PARAMS = _query_params()


def _valid_value(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if "pattern" in schema:
        return "2026-01-01" if "[0-9]{4}-" in schema["pattern"] else "th"
    return "x"


def _required_others(path: str, skip: str) -> dict[str, str]:
    return {
        name: _valid_value(schema)
        for p, name, schema, required in QUERY_PARAMS
        if p == path and required and name != skip
    }


def test_there_are_derived_parameters_to_check() -> None:
    assert len(QUERY_PARAMS) >= 6


@pytest.mark.parametrize("param", QUERY_PARAMS, ids=lambda p: f"{p.path}?{p.name}")
def test_an_empty_value_is_refused_exactly_when_the_document_refuses_it(
    api: ApiClient, keys: Keys, param: QueryParam
) -> None:
    path, name, schema = param.path, param.name, param.schema
    documented_valid = schema.get("minLength", 0) == 0 and "enum" not in schema
    documented_valid = documented_valid and schema.get("type") != "integer"
    documented_valid = documented_valid and "pattern" not in schema
    query = {**_required_others(path, name), name: ""}
    result = api.get(path, key=keys.creator, query=query)
    if documented_valid:
        assert result.status != 400, result.text
    else:
        assert result.status == 400, result.text
        assert result.json["error"]["details"][0]["field"] == name


@pytest.mark.parametrize("param", QUERY_PARAMS, ids=lambda p: f"{p.path}?{p.name}")
def test_a_documented_valid_value_is_accepted(
    api: ApiClient, keys: Keys, param: QueryParam
) -> None:
    path, name, schema = param.path, param.name, param.schema
    if name == "cursor":
        pytest.skip("opaque: only a server-issued cursor is valid (declared in the document)")
    if "{" in path:
        pytest.skip("needs an item to exist; the same query rule is checked on the plain lists")
    if path == "/stats" and name in ("from", "to"):
        pytest.skip("from and to go together (OpenAPI cannot say so; schemathesis.toml)")
    query = {**_required_others(path, name), name: _valid_value(schema)}
    result = api.get(path, key=keys.creator, query=query)
    assert result.status != 400, result.text  # 404 (nothing there yet) is not a refusal


@pytest.mark.parametrize("param", QUERY_PARAMS, ids=lambda p: f"{p.path}?{p.name}")
def test_integer_bounds_are_the_documented_ones(
    api: ApiClient, keys: Keys, param: QueryParam
) -> None:
    path, name, schema = param.path, param.name, param.schema
    if schema.get("type") != "integer" or "{" in path:
        pytest.skip("not an integer, or needs an item to exist")
    others = _required_others(path, name)
    low, high = schema["minimum"], schema["maximum"]
    for value, ok in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
        status = api.get(path, key=keys.creator, query={**others, name: str(value)}).status
        assert (status != 400) if ok else (status == 400), (name, value, status)


def test_an_integral_number_is_an_integer_in_bodies(api: ApiClient, keys: Keys) -> None:
    """JSON Schema's integer includes 155.0; strict models still refuse "155" and 1.5."""
    body: dict[str, Any] = {"thread_id": "th", "text": "x", "source": {"path": "a.py"}}
    for line, status in ((155.0, 201), (155, 201), ("155", 400), (1.5, 400), (True, 400)):
        body["source"]["line"] = line
        result = api.post("/notes", key=keys.creator, json_body=body)
        assert result.status == status, (line, result.text)
        if status == 201:
            assert result.json["source"]["line"] == 155
    marker = {"path": "a.py", "line": 7.0, "kind": "TODO", "text": "t"}
    snapshot = {"thread": {"id": "th"}, "markers": [marker]}
    assert api.post("/hydrate", key=keys.creator, json_body=snapshot).status == 201


# --------------------------------------------------------------------------- integers


def _integer_paths(model: type[Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths (as pydantic error locations) of every integer field of a body model, nested
    models and lists of them included."""
    from pydantic import BaseModel, TypeAdapter

    for name, field in model.model_fields.items():
        loc = (*prefix, field.alias or name)
        schema = json.dumps(TypeAdapter(Annotated[field.annotation, field]).json_schema())
        for inner in _models_in(field.annotation):
            # The field itself is a list (or an optional one); an object that holds arrays
            # further down is not.
            list_like = get_origin(field.annotation) is list or any(
                get_origin(arg) is list for arg in get_args(field.annotation)
            )
            yield from _integer_paths(inner, (*loc, 0) if list_like else loc)
        if '"integer"' in schema and not any(
            isinstance(t, type) and issubclass(t, BaseModel) for t in _leaves(field.annotation)
        ):
            yield loc


def _leaves(annotation: Any) -> list[Any]:
    args = get_args(annotation)
    return [leaf for arg in args for leaf in _leaves(arg)] if args else [annotation]


def _models_in(annotation: Any) -> list[type[Any]]:
    from pydantic import BaseModel

    return [t for t in _leaves(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _nest(loc: tuple[Any, ...], value: Any) -> Any:
    if not loc:
        return value
    head, *rest = loc
    inner = _nest(tuple(rest), value)
    return [inner] if isinstance(head, int) else {head: inner}


BODY_MODELS = sorted(
    {op.body for op in openapi.route_table().values() if op.body is not None},
    key=lambda m: m.__name__,
)
INTEGER_FIELDS = [
    pytest.param(model, loc, id=f"{model.__name__}.{'.'.join(map(str, loc))}")
    for model in BODY_MODELS
    for loc in _integer_paths(model)
]


def test_there_are_integer_fields_to_check() -> None:
    assert len(INTEGER_FIELDS) >= 5


@pytest.mark.parametrize(("model", "loc"), INTEGER_FIELDS)
def test_every_integer_field_accepts_an_integral_number(
    model: type[Any], loc: tuple[Any, ...]
) -> None:
    """JSON Schema calls 12.0 an integer: no body field may refuse it (and "12" stays a
    string, refused).  Other fields of the body may be missing: only errors at `loc` count."""
    from pydantic import ValidationError

    def errors_at(value: Any) -> list[Any]:
        try:
            model.model_validate(_nest(loc, value))
        except ValidationError as exc:
            return [e for e in exc.errors() if tuple(e["loc"]) == loc]
        return []

    for value in (12.0, 12):
        found = errors_at(value)
        # 12 may be out of the field's range; then 12.0 must fail the same way, no worse.
        assert [e["type"] for e in errors_at(12.0)] == [e["type"] for e in errors_at(12)], found
    assert errors_at("12"), "a string must not pass as an integer"
