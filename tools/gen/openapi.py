"""The OpenAPI 3.1 document of the HTTP API: `python -m tools.gen.openapi` (make openapi)
writes `common/openapi.json`, which the status function serves at `GET /openapi.json`,
the operations part of docs/api.md, and `infra/routes.json` (which function serves
which route keys: Terraform and make run's gateway route with it).

Everything comes from the route declarations in the handler modules (common.api's
RouteTable): route key, role, body and query models (the function's annotations),
response views per status, summary and description (the docstring), and the few
doc-only extras (common.runtime.routedoc).  tools/gen/schemas.py turns the types into
schemas.  The functions themselves are Terraform's (infra/functions.tf names each one's
handler module).

The document is written as a package-data file rather than built at request time so
a cold start never pays for pydantic schema generation.  `--check` exits 1 when a
written file is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common import __version__
from common.api import Route
from common.runtime import http
from common.runtime.routedoc import Param
from tools.gen.schemas import Components

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT_PATH = ROOT / "common" / "openapi.json"
ROUTES_PATH = ROOT / "infra" / "routes.json"
EVENTS_DIR = ROOT / "tests" / "events"
JSON = "application/json"
MARKDOWN = "text/markdown; charset=utf-8"
HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"

Schema = dict[str, Any]

ERROR_DESCRIPTIONS = {
    400: "invalid_json, validation_error or invalid_cursor",
    401: "unauthorized",
    403: "forbidden: a viewer key on a write route",
    404: "not_found (another tenant's id answers exactly like an unknown one)",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited (Retry-After)",
    500: "internal_error (the cause is logged, never returned)",
    503: "service_unavailable: a backing service is busy (Retry-After)",
}


def function_routes() -> dict[str, dict[str, Route]]:
    """Function name → its routes, from the handler module infra/functions.tf names."""
    from tools.local import infra_model

    routes: dict[str, dict[str, Route]] = {}
    for name, spec in infra_model.functions().items():
        module = importlib.import_module(spec.handler.rsplit(".", 1)[0])
        table: Mapping[str, Route] = getattr(module, "ROUTES", {})
        if table:
            routes[name] = dict(table)
    return routes


def route_table() -> dict[str, Route]:
    """Every route key → its Route."""
    return {key: route for table in function_routes().values() for key, route in table.items()}


def routes_json(functions: Mapping[str, Mapping[str, Route]] | None = None) -> str:
    """infra/routes.json: {function: [route keys]}, as the handlers declare them."""
    functions = function_routes() if functions is None else functions
    table = {name: list(routes) for name, routes in sorted(functions.items())}
    return json.dumps(table, indent=2) + "\n"


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _error_statuses(route: Route, path: str) -> list[int]:
    doc = route.doc
    statuses = {500, 503, *doc.errors}
    if route.auth != "none":
        statuses |= {401, 429}
    if route.auth == "creator":
        statuses.add(403)
    if route.body is not None or doc.raw_body is not None:
        statuses |= {400, 413, 415}
    statuses |= set(doc.own_errors)
    if doc.params or route.query or _path_params(path):
        statuses |= {400, 404}
    return sorted(statuses)


def _headers(*names: str) -> Schema:
    described = {
        "X-Request-ID": "The client's X-Request-ID when well-formed, else the gateway's id.",
        "Retry-After": "Seconds to wait before retrying.",
        "X-Token-Estimate": "The document's size in tokens, as estimated for max_tokens.",
    }
    return {
        name: {"description": described[name], "schema": {"type": "string"}, "required": True}
        for name in names
    }


def _ok_response(route: Route, status: int, components: Components) -> Schema:
    doc, body = route.doc, route.ok[status]
    # An HTML page is a string, not a component.
    name = getattr(body, "name", None) if doc.html else components.body(body)
    response: Schema = {"description": name or "No content"}
    estimate = ("X-Token-Estimate",) if doc.markdown and status == 200 else ()
    response["headers"] = _headers("X-Request-ID", *estimate)
    if name is not None and doc.html:
        response["content"] = {HTML: {"schema": {"type": "string"}}}
    elif name is not None:
        response["content"] = {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        if doc.markdown and status == 200:
            response["content"][MARKDOWN] = {"schema": {"type": "string"}}
        if doc.csv and status == 200:
            response["content"][CSV] = {"schema": {"type": "string"}}
    return response


def _responses(route: Route, path: str, components: Components) -> Schema:
    responses: Schema = {
        str(status): _ok_response(route, status, components) for status in sorted(route.ok)
    }
    for status in _error_statuses(route, path):
        if status in route.doc.own_errors:
            named, description = route.doc.own_errors[status]
            responses[str(status)] = {
                "description": description,
                "headers": _headers("X-Request-ID"),
                "content": {
                    JSON: {"schema": {"$ref": f"#/components/schemas/{components.named(named)}"}}
                },
            }
        else:
            responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return responses


def _error_responses() -> Schema:
    """One shared response per error status (the envelope, X-Request-ID, Retry-After)."""
    shared: Schema = {}
    for status, description in ERROR_DESCRIPTIONS.items():
        retry = ("Retry-After",) if status in (429, 503) else ()
        shared[f"E{status}"] = {
            "description": description,
            "headers": _headers("X-Request-ID", *retry),
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return shared


def _parameters(route: Route, path: str) -> list[Schema]:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(path)
    ]
    parameters += _query_parameters(route.query) if route.query else []
    parameters += [_param(param) for param in route.doc.params]
    return parameters


def _param(param: Param) -> Schema:
    entry: Schema = {"name": param.name, "in": param.where, "schema": param.schema}
    if param.required:
        entry["required"] = True
    if param.description:
        entry["description"] = param.description
    return entry


def _query_parameters(model: type[Any]) -> list[Schema]:
    """One query parameter per field of the route's query model, with the model's rule."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        choices = [p for p in prop.pop("anyOf", [prop]) if p.get("type") != "null"]
        param_schema = {k: v for k, v in {**prop, **choices[0]}.items() if k != "title"}
        if param_schema.get("default", 0) is None:
            del param_schema["default"]
        entry: Schema = {"name": name, "in": "query", "schema": param_schema}
        if name in required:
            entry["required"] = True
        if "description" in param_schema:
            entry["description"] = param_schema.pop("description")
        parameters.append(entry)
    return parameters


def _request_body(route: Route, components: Components) -> Schema | None:
    if route.body is not None:
        name = components.model(route.body)
        return {
            "required": not route.optional_body,
            "description": f"At most {route.max_body} bytes; unknown fields are refused.",
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    if route.doc.raw_body is not None:
        return {
            "required": True,
            "description": f"At most {route.max_body} bytes.",
            "content": {JSON: {"schema": route.doc.raw_body}},
        }
    return None


def _operation(route_key: str, route: Route, components: Components) -> Schema:
    if not route.summary:
        raise ValueError(f"{route_key} has no summary (the first line of its docstring)")
    path = route_key.split(" ", 1)[1]
    operation: Schema = {
        "operationId": route.fn.__name__,
        "summary": route.summary,
        "security": [] if route.auth == "none" else [{"bearer": []}],
        "responses": _responses(route, path, components),
    }
    if route.description:
        operation["description"] = route.description
    if route.auth != "none":
        operation["x-dockhand-role"] = route.auth
    parameters = _parameters(route, path)
    if parameters:
        operation["parameters"] = parameters
    body = _request_body(route, components)
    if body is not None:
        operation["requestBody"] = body
    return operation


def build_document(routes: Mapping[str, Route] | None = None) -> Schema:
    routes = route_table() if routes is None else routes
    components = Components()
    components.view(http.ErrorView)
    paths: dict[str, Schema] = {}
    for route_key in sorted(routes, key=lambda key: (key.split(" ", 1)[1], key)):
        method, path = route_key.split(" ", 1)
        operation = _operation(route_key, routes[route_key], components)
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dockhand",
            "version": __version__,
            "description": "Triggers, context snapshots, agents and aggregates. "
            "Generated by tools/gen/openapi.py from the handlers' route tables and "
            "pydantic models; do not edit by hand.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, dk_<key_id>_<secret>. viewer: GET "
                    "routes; creator: all routes (x-dockhand-role says which).",
                }
            },
        },
    }


def render(document: Schema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def sample_name(route_key: str) -> str:
    """`POST /inbox/lease` → `inbox_lease_post.json` (the tests/events naming)."""
    method, path = route_key.split(" ", 1)
    words = [w for w in path.split("/") if w and not w.startswith("{")]
    stem = "_".join(w.replace("-", "_").replace(".", "_") for w in words) or "root"
    one = "_one" if path.endswith("}") and method == "GET" else ""
    return f"{stem}{one}_{method.lower()}.json"


def write_missing_samples(
    events_dir: Path, routes: Mapping[str, Route] | None = None
) -> list[Path]:
    """A starter sample event (for `make invoke`) for every route that has none, so a new
    route needs no hand-made file; edit the body to something meaningful afterwards."""
    from tools.local import apigw

    routes = route_table() if routes is None else routes
    covered = {json.loads(p.read_text("utf-8")).get("routeKey") for p in events_dir.glob("*.json")}
    written = []
    for route_key in sorted(set(routes) - covered):
        method, path = route_key.split(" ", 1)
        params = dict.fromkeys(_path_params(path), "example")
        concrete = path
        for name, value in params.items():
            concrete = concrete.replace("{" + name + "}", value)
        headers = {"authorization": "Bearer $DOCKHAND_API_KEY"}
        body = None
        if routes[route_key].body is not None:
            body = "{}"
            headers |= {"content-type": "application/json", "content-length": "2"}
        event = apigw.build_event(
            method, concrete, route_key=route_key, path_params=params, headers=headers, body=body
        )
        target = events_dir / sample_name(route_key)
        target.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(target)
    return written


def outputs() -> dict[Path, str]:
    """Every file this generator writes, with its text."""
    from tools.gen import apidoc

    functions = function_routes()
    document = build_document({k: r for table in functions.values() for k, r in table.items()})
    api_md = apidoc.API_MD.read_text("utf-8") if apidoc.API_MD.exists() else ""
    return {
        DOCUMENT_PATH: render(document),
        apidoc.API_MD: apidoc.render(document, api_md),
        ROUTES_PATH: routes_json(functions),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in outputs().items():
        current = path.read_text("utf-8") if path.exists() else ""
        if args.check:
            if current != text:
                print(f"{path} is stale: run `make openapi`", file=sys.stderr)
                stale = 1
            continue
        if current != text:
            path.write_text(text, "utf-8")
        print(f"wrote {path}")
    if args.check:
        return stale
    for sample in write_missing_samples(EVENTS_DIR):
        print(f"wrote {sample} (a starter sample event for make invoke: edit its body)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
