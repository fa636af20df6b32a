"""The OpenAPI document: complete (every infra route, no invented ones), fresh (the
committed file equals the generator's output), valid OpenAPI 3.1, served without a key,
and true (real handler responses validate against the schemas it documents)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import ApiClient, Keys, Result
from tests.unit.agents_support import heartbeat, register
from tools.gen import openapi
from tools.local import infra_model

DOCUMENT = json.loads(openapi.DOCUMENT_PATH.read_text("utf-8"))


def documented_routes(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_infra_route_is_documented_and_nothing_else() -> None:
    infra_routes = set(infra_model.route_table())
    assert documented_routes(DOCUMENT) == infra_routes


def test_committed_document_is_what_the_generator_writes() -> None:
    fresh = openapi.render(openapi.build_document())
    committed = openapi.DOCUMENT_PATH.read_text("utf-8")
    assert committed == fresh, "common/openapi.json is stale: run `make openapi`"


@pytest.mark.parametrize("target", ["DOCUMENT_PATH", "ROUTES_PATH"])
def test_check_mode_fails_on_a_stale_file(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "stale.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(openapi, target, stale)
    assert openapi.main(["--check"]) == 1
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0


def test_committed_routes_json_is_what_the_handlers_declare() -> None:
    """infra/routes.json (Terraform's and make run's routing) is generated, never typed."""
    committed = openapi.ROUTES_PATH.read_text("utf-8")
    assert committed == openapi.routes_json(), "infra/routes.json is stale: run `make openapi`"
    declared = {name: set(table) for name, table in openapi.function_routes().items()}
    assert {name: set(keys) for name, keys in json.loads(committed).items()} == declared


def test_a_route_declared_but_not_in_routes_json_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    functions = openapi.function_routes()
    functions["status"]["GET /new"] = functions["status"]["GET /status"]
    monkeypatch.setattr(openapi, "function_routes", lambda: functions)
    assert openapi.main(["--check"]) == 1


def test_a_route_without_a_summary_fails_the_build() -> None:
    routes = openapi.route_table()
    routes["GET /undocumented"] = replace(routes["GET /status"], summary="")
    with pytest.raises(ValueError, match="GET /undocumented"):
        openapi.build_document(routes)


def test_document_is_valid_openapi_31() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    validate_spec(DOCUMENT)


def test_query_parameters_come_only_from_query_models() -> None:
    """No hand-written query parameter: the document states the rule the model applies."""
    document = openapi.build_document()
    for route_key, op in openapi.route_table().items():
        assert not [p for p in op.doc.params if p.where == "query"], route_key
        method, path = route_key.split(" ", 1)
        documented = {
            p["name"]
            for p in document["paths"][path][method.lower()].get("parameters", [])
            if p["in"] == "query"
        }
        fields = op.query.model_json_schema()["properties"] if op.query else {}
        assert documented == set(fields), route_key


def test_auth_is_documented_as_the_route_table_declares() -> None:
    for route_key, route in openapi.route_table().items():
        method, path = route_key.split(" ", 1)
        operation = DOCUMENT["paths"][path][method.lower()]
        responses = operation["responses"]
        if route.auth == "none":
            assert operation["security"] == [], route_key
            assert "429" not in responses
        else:
            assert operation["security"] == [{"bearer": []}], route_key
            assert {"401", "429"} <= set(responses), route_key
        # POST /mcp's 403 is the MCP transport's Origin guard (a JSON-RPC body), not a role.
        origin_guarded = route_key == "POST /mcp"
        assert ("403" in responses) == (route.auth == "creator" or origin_guarded), route_key


def test_heartbeat_documents_its_signature_headers() -> None:
    operation = DOCUMENT["paths"]["/agents/{agent_id}/heartbeat"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"X-Agent-Timestamp", "X-Agent-Signature"}
    assert "401" in operation["responses"]


def test_request_bodies_come_from_the_pydantic_models() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    new_event = schemas["NewEvent"]
    assert new_event["additionalProperties"] is False
    assert set(new_event["required"]) == {"event_type", "payload"}
    assert schemas["NoteIn"]["properties"]["kind"]["default"] == "note"


def test_served_at_openapi_json_without_a_key(api: ApiClient) -> None:
    result = api.get("/openapi.json")
    assert result.status == 200
    assert result.headers["Content-Type"] == "application/json"
    assert result.headers["X-Request-ID"]
    assert result.json == DOCUMENT


# --------------------------------------------------------------------------- truthfulness


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    # The whole document is one resource, so "#/components/schemas/X" refs resolve in it.
    resource = Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:dockhand", resource)
    return Draft202012Validator(schema, registry=registry)


def assert_documented(route_key: str, result: Result) -> None:
    """The response's status is documented for the route and its body matches."""
    method, path = route_key.split(" ", 1)
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(result.status) in responses, (route_key, result.status, result.text)
    response = responses[str(result.status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content")
    if content is None:
        assert result.text == ""
        return
    schema = content["application/json"]["schema"]
    pointer = {"$ref": "urn:dockhand" + schema["$ref"]}
    errors = list(_validator(pointer).iter_errors(result.json))
    assert not errors, (route_key, [e.message for e in errors])


def test_real_responses_match_their_documented_schemas(api: ApiClient, keys: Keys) -> None:
    k = keys.creator
    created = api.post("/events", key=k, json_body={"event_type": "t", "payload": {"a": 1}})
    assert_documented("POST /events", created)
    event_id = created.json["event_id"]
    again = api.post("/events", key=k, json_body={"event_type": "t", "payload": {"a": 1}})
    assert_documented("POST /events", again)
    assert_documented("GET /events/{event_id}", api.get(f"/events/{event_id}", key=k))
    assert_documented("GET /inbox", api.get("/inbox", key=k))
    ack = api.post("/inbox/ack", key=k, json_body={"event_ids": [event_id, "nope"]})
    assert_documented("POST /inbox/ack", ack)
    assert_documented("DELETE /events/{event_id}", api.delete(f"/events/{event_id}", key=k))
    assert_documented("GET /events/{event_id}", api.get(f"/events/{event_id}", key=k))

    note = api.post(
        "/notes",
        key=k,
        json_body={"thread_id": "t1", "text": "hi", "source": {"path": "a.py", "line": 3}},
    )
    assert_documented("POST /notes", note)
    assert_documented("GET /notes", api.get("/notes", key=k, query={"thread_id": "t1"}))
    assert_documented("GET /notes/{note_id}", api.get(f"/notes/{note.json['note_id']}", key=k))
    hydrated = api.post("/hydrate", key=k, json_body={"thread": {"id": "t1", "goal": "g"}})
    assert_documented("POST /hydrate", hydrated)
    snapshot_id = hydrated.json["snapshot_id"]
    assert_documented("GET /snapshots", api.get("/snapshots", key=k, query={"thread_id": "t1"}))
    assert_documented("GET /snapshots/{snapshot_id}", api.get(f"/snapshots/{snapshot_id}", key=k))
    assert_documented("GET /threads", api.get("/threads", key=k))
    rendered = api.get(f"/rehydrate/{snapshot_id}", key=k, query={"format": "json"})
    assert_documented("GET /rehydrate/{snapshot_id}", rendered)

    agent = register(api, k)
    assert_documented("GET /agents", api.get("/agents", key=k))
    assert_documented("GET /agents/{agent_id}", api.get(f"/agents/{agent['agent_id']}", key=k))
    assert_documented("POST /agents/{agent_id}/heartbeat", heartbeat(api, agent))
    assert_documented("GET /agents/{agent_id}", api.get(f"/agents/{agent['agent_id']}", key=k))
    assert_documented("GET /stats", api.get("/stats", key=k))
    assert_documented("GET /status", api.get("/status"))
    assert_documented(
        "DELETE /notes/{note_id}", api.delete(f"/notes/{note.json['note_id']}", key=k)
    )
    assert_documented(
        "DELETE /snapshots/{snapshot_id}", api.delete(f"/snapshots/{snapshot_id}", key=k)
    )
    assert_documented("DELETE /threads/{thread_id}", api.delete("/threads/t1", key=k))


def test_error_responses_match_the_envelope(api: ApiClient, keys: Keys) -> None:
    assert_documented("POST /events", api.post("/events", key=keys.creator, json_body={}))
    assert_documented("POST /events", api.post("/events", key=keys.viewer, json_body={}))
    assert_documented("GET /inbox", api.get("/inbox"))
    assert_documented("GET /agents/{agent_id}", api.get("/agents/nope", key=keys.viewer))
    conflict = api.post("/agents", key=keys.creator, json_body={"name": "a"})
    assert_documented("POST /agents", conflict)
    assert_documented(
        "POST /agents", api.post("/agents", key=keys.creator, json_body={"name": "a"})
    )


# --------------------------------------------------------------------------- found by fuzzing


def test_stats_with_an_empty_day_is_a_validation_error(api: ApiClient, keys: Keys) -> None:
    """schemathesis: `?day=` answered today's figures (200) although it is no date."""
    result = api.get("/stats", key=keys.viewer, query={"day": ""})
    assert result.status == 400
    assert result.json["error"]["details"] == [
        {"field": "day", "message": "must be a date, YYYY-MM-DD"}
    ]
    assert api.get("/stats", key=keys.viewer).status == 200  # absent still means today


def test_make_openapi_writes_a_starter_sample_for_a_route_without_one(tmp_path: Path) -> None:
    """The fourth place a new route would need (tests/events) is generated, not typed."""
    routes = openapi.route_table()
    (tmp_path / "status_get.json").write_text(json.dumps({"routeKey": "GET /status"}))
    written = {
        p.name: json.loads(p.read_text()) for p in openapi.write_missing_samples(tmp_path, routes)
    }
    assert len(written) == len(routes) - 1  # GET /status has one already
    lease = written["inbox_lease_post.json"]
    assert lease["routeKey"] == "POST /inbox/lease"
    assert lease["body"] == "{}"
    assert lease["headers"]["authorization"] == "Bearer $DOCKHAND_API_KEY"
    one = written["events_one_get.json"]
    assert one["pathParameters"] == {"event_id": "example"}
    assert one["rawPath"] == "/events/example"
    assert openapi.write_missing_samples(tmp_path, routes) == []  # nothing twice
