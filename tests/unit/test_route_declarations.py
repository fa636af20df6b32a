"""A route is declared once, on its function (common.api.RouteTable): what the
declaration carries reaches the dispatcher and the OpenAPI document, and a declaration
that would leave the document wrong fails at once."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from common.api import Response, RouteTable, http_handler
from common.runtime.errors import Unauthorized
from common.runtime.http import Request, json_response
from common.runtime.models import PageQuery
from tools.gen import openapi
from tools.local import apigw

ROOT = Path(__file__).resolve().parents[2]


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


calls: list[str] = []
table = RouteTable()


def _refuse_unsigned(request: Request) -> str:
    calls.append("guard")
    if request.header("x-signed") != "yes":
        raise Unauthorized()
    return "signer"


@table.post("/things", auth="none", ok={201: None}, guard=_refuse_unsigned)
def create_thing(request: Request, guarded: str, body: Thing) -> Response:
    """Create a thing

    The body is a Thing.
    """
    calls.append(f"create {guarded} {body.name}")
    return json_response(201, {"name": body.name})


@table.post("/things/{thing_id}/touch", auth="none", ok={200: None})
def touch(request: Request, body: Thing | None) -> Response:
    """Touch a thing, optionally renaming it"""
    return json_response(200, {"renamed": None if body is None else body.name})


@table.get("/things", auth="none", ok={200: None})
def list_things(request: Request, query: PageQuery) -> Response:
    """The things"""
    return json_response(200, {"limit": query.limit})


handler = http_handler("things", table.table)


def call(method: str, path: str, route_key: str, **kwargs: Any) -> tuple[int, Any]:
    event = apigw.build_event(method, path, route_key=route_key, **kwargs)
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"] or "null")


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def test_the_declaration_carries_summary_description_models_and_views() -> None:
    route = table.table["POST /things"]
    assert route.summary == "Create a thing"
    assert route.description == "The body is a Thing."
    assert route.body is Thing
    assert route.optional_body is False
    assert table.table["POST /things/{thing_id}/touch"].optional_body is True
    assert table.table["GET /things"].query is PageQuery


def test_the_guard_runs_before_the_body_is_read() -> None:
    status, body = call("POST", "/things", "POST /things", body="not json")
    assert status == 401  # not 400: an unsigned caller learns nothing about the body
    assert calls == ["guard"]
    headers = {"x-signed": "yes", "content-type": "application/json"}
    status, body = call("POST", "/things", "POST /things", body="not json", headers=headers)
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    status, body = call("POST", "/things", "POST /things", body='{"name": 1}', headers=headers)
    assert (status, body["error"]["details"][0]["field"]) == (400, "name")
    assert calls == ["guard", "guard", "guard"]  # the function never ran on a bad body
    status, body = call("POST", "/things", "POST /things", body='{"name": "a"}', headers=headers)
    assert (status, body, calls[-1]) == (201, {"name": "a"}, "create signer a")


def test_an_optional_body_may_be_left_out_but_not_be_wrong() -> None:
    key, path = "POST /things/{thing_id}/touch", "/things/x/touch"
    assert call("POST", path, key) == (200, {"renamed": None})
    json_headers = {"content-type": "application/json"}
    assert call("POST", path, key, body='{"name": "b"}', headers=json_headers) == (
        200,
        {"renamed": "b"},
    )
    status, body = call("POST", path, key, body='{"other": 1}', headers=json_headers)
    assert (status, body["error"]["code"]) == (400, "validation_error")


def test_the_query_model_is_validated_before_the_function() -> None:
    assert call("GET", "/things", "GET /things", query={"limit": "5"}) == (200, {"limit": 5})
    status, body = call("GET", "/things", "GET /things", query={"limit": "x"})
    assert (status, body["error"]["details"][0]["field"]) == (400, "limit")


def test_a_route_declared_without_a_summary_fails_at_import() -> None:
    routes = RouteTable()
    with pytest.raises(ValueError, match="GET /nameless"):

        @routes.get("/nameless", ok={200: None})
        def nameless(request: Request) -> Response:
            return json_response(200, {})


def test_a_route_key_declared_twice_fails() -> None:
    with pytest.raises(ValueError, match="GET /things is declared twice"):

        @table.get("/things", ok={200: None})
        def again(request: Request) -> Response:
            """Again"""
            return json_response(200, {})


def test_a_parameter_the_dispatcher_cannot_fill_fails_at_import() -> None:
    routes = RouteTable()
    with pytest.raises(TypeError, match="payload"):

        @routes.post("/odd", ok={200: None})
        def odd(request: Request, payload: Thing) -> Response:
            """Odd"""
            return json_response(200, {})


def test_a_body_that_is_not_a_pydantic_model_fails_at_import() -> None:
    routes = RouteTable()
    with pytest.raises(TypeError, match="`body` must be annotated with a pydantic model"):

        @routes.post("/loose", ok={200: None})
        def loose(request: Request, body: dict[str, Any]) -> Response:
            """Loose"""
            return json_response(200, body)


def test_the_document_shows_the_declared_body_and_query() -> None:
    document = openapi.build_document(table.table)
    create = document["paths"]["/things"]["post"]
    assert create["summary"] == "Create a thing"
    assert create["description"] == "The body is a Thing."
    body = create["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert document["components"]["schemas"]["Thing"] == Thing.model_json_schema()
    touch = document["paths"]["/things/{thing_id}/touch"]["post"]
    assert touch["requestBody"]["required"] is False
    listed = document["paths"]["/things"]["get"]
    assert {p["name"] for p in listed["parameters"]} == set(PageQuery.model_fields)


def _model_validations(path: Path) -> list[str]:
    """`request.json_model(X)` / `request.query_model(X)` calls written in a handler."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("json_model", "query_model")
        ):
            found.append(ast.unparse(node))
    return found


def test_no_handler_validates_a_model_the_document_does_not_show() -> None:
    """A body or query model named inside a function, not in its signature, would be
    validated but missing from the OpenAPI document; only the no-body rule (any body but
    `{}` refused, nothing to document) is checked by hand."""
    found = {
        str(path.relative_to(ROOT)): calls
        for path in sorted((ROOT / "handlers").rglob("*.py"))
        if (calls := _model_validations(path))
    }
    assert found == {
        "handlers/subscriptions/manage.py": ["request.json_model(subs.NoBody)"],
    }


def test_the_scan_would_catch_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(request):\n    return request.json_model(Thing)\n")
    assert _model_validations(sample) == ["request.json_model(Thing)"]


def test_every_served_route_has_a_summary_and_its_ok_answers() -> None:
    for route_key, route in openapi.route_table().items():
        assert route.summary, route_key
        assert route.ok, route_key
