"""The operations part of docs/api.md, generated from the OpenAPI document.

docs/api.md keeps its hand-written rules (everything above `MARKER`); everything below
it is written here from `tools.gen.openapi.build_document()` — the same route tables,
request/query models and response views the API validates and answers with — so the
reference cannot list a route the server does not serve, miss one it does, or show a
field the answer lacks.  `make openapi` rewrites it; tests/unit/test_apidoc.py fails
when the committed file is stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tools.gen import openapi

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
MARKER = "<!-- generated below by `make openapi` (tools/gen/apidoc.py): do not edit by hand -->"
METHOD_ORDER = {"get": 0, "post": 1, "patch": 2, "put": 3, "delete": 4}
ROLE = {"viewer": "viewer key", "creator": "creator key"}

Schema = dict[str, Any]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", name.lower())


def _literal(value: Any) -> str:
    return f'`"{value}"`' if isinstance(value, str) else f"`{value}`"


def type_of(schema: Schema) -> str:
    """A JSON schema as a short type expression: `string`, `[Note]`, `integer | null`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return " \\| ".join(type_of(part) for part in choices)
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return " \\| ".join(_literal(value) for value in values)
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    values = schema.get("additionalProperties")
    if kind == "object" and isinstance(values, dict) and not schema.get("properties"):
        return f"object of {type_of(values)}"
    return str(kind)


_RULES = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("maxLength", "at most {} characters"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("maxProperties", "at most {} entries"),
    ("format", "{}"),
    ("default", "default {}"),
)


def rule_of(schema: Schema) -> str:
    """The constraints of a field, in words, plus its description."""
    parts: list[str] = []
    for part in [schema, *schema.get("anyOf", [])]:
        for key, template in _RULES:
            value = part.get(key)
            if value is None:
                continue
            shown = f'"{value}"' if isinstance(value, str) and key == "default" else value
            parts.append(template.format(shown))
        if "pattern" in part and "format" not in part:
            parts.append(f"pattern `{part['pattern']}`")
    description = schema.get("description", "")
    return _cell("; ".join(dict.fromkeys([*parts, description] if description else parts)))


def _field_table(schema: Schema) -> list[str]:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    if not properties:
        return []
    required = set(schema.get("required", []))
    lines = ["| field | type | required | rule |", "|---|---|---|---|"]
    for name, prop in properties.items():
        mark = "yes" if name in required else ""
        lines.append(f"| `{name}` | {type_of(prop)} | {mark} | {rule_of(prop)} |")
    return [*lines, ""]


def _parameters(operation: Schema) -> list[str]:
    rows = [p for p in operation.get("parameters", []) if p["in"] != "path"]
    if not rows:
        return []
    lines = ["| parameter | in | type | required | rule |", "|---|---|---|---|---|"]
    for param in rows:
        schema = {**param["schema"], "description": param.get("description", "")}
        mark = "yes" if param.get("required") else ""
        name, where = param["name"], param["in"]
        lines.append(f"| `{name}` | {where} | {type_of(schema)} | {mark} | {rule_of(schema)} |")
    return [*lines, ""]


def _answers(operation: Schema) -> list[str]:
    ok, errors = [], []
    for status, response in operation["responses"].items():
        if "$ref" in response or int(status) >= 400:
            errors.append(status)
            continue
        content = response.get("content", {})
        shapes = [
            type_of(media["schema"]) + ("" if kind == openapi.JSON else f" ({kind.split(';')[0]})")
            for kind, media in content.items()
        ]
        ok.append(f"`{status}` " + (", ".join(shapes) if shapes else "no body"))
    return [f"Answers: {'; '.join(ok)}. Errors: {', '.join(errors)}.", ""]


def _operation(method: str, path: str, operation: Schema) -> list[str]:
    role = operation.get("x-dockhand-role")
    headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
    who = ROLE.get(str(role), "no key") if operation["security"] else "no key"
    if "X-Agent-Signature" in headers:
        who = "signed by the agent, no key"
    lines = [f"#### `{method.upper()} {path}` ({who})", "", _cell(operation["summary"]) + ".", ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    lines += _parameters(operation)
    body = operation.get("requestBody")
    if body:
        schema = body["content"][openapi.JSON]["schema"]
        lines += [f"Body: {type_of(schema)}. {_cell(body.get('description', ''))}", ""]
    return lines + _answers(operation)


def _by_function(document: Schema) -> dict[str, list[tuple[str, str, Schema]]]:
    owner = {key: name for name, table in openapi.function_routes().items() for key in table}
    groups: dict[str, list[tuple[str, str, Schema]]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            function = owner[f"{method.upper()} {path}"]
            groups.setdefault(function, []).append((method, path, operation))
    for entries in groups.values():
        entries.sort(key=lambda entry: (entry[1], METHOD_ORDER.get(entry[0], 9)))
    return dict(sorted(groups.items()))


def _shapes(components: Mapping[str, Schema]) -> Iterable[str]:
    yield "## Shapes"
    yield ""
    yield "Every request body and answer named above, field by field."
    yield ""
    for name, schema in components.items():
        yield f"### {name}"
        yield ""
        if schema.get("description"):
            yield _cell(schema["description"])
            yield ""
        table = _field_table(schema)
        if table:
            yield from table
        else:
            yield f"{type_of(schema)}."
            yield ""


def reference(document: Schema) -> str:
    lines = [MARKER, "", "## Operations", ""]
    lines.append(
        f"{sum(len(m) for m in document['paths'].values())} operations, grouped by the "
        "Lambda function that serves them. Path parameters are the `{names}` in the path; "
        "the error codes are in the table above."
    )
    lines.append("")
    for function, entries in _by_function(document).items():
        lines += [f"### Function `{function}`", ""]
        for method, path, operation in entries:
            lines += _operation(method, path, operation)
    lines += list(_shapes(document["components"]["schemas"]))
    return "\n".join(lines).rstrip() + "\n"


def render(document: Schema, current: str) -> str:
    """docs/api.md: its hand-written part kept, the reference below the marker replaced."""
    head = current.split(MARKER, 1)[0].rstrip() + "\n\n" if MARKER in current else current
    return head + reference(document)
