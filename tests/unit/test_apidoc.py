"""docs/api.md's operations are generated from the OpenAPI document: they cannot drift."""

from __future__ import annotations

import re

from tools.gen import apidoc, openapi

DOCUMENT = openapi.build_document()


def test_committed_reference_is_what_the_generator_writes() -> None:
    current = apidoc.API_MD.read_text("utf-8")
    assert apidoc.MARKER in current
    assert current == apidoc.render(DOCUMENT, current), "docs/api.md is stale: run `make openapi`"


def test_every_served_route_has_a_heading_and_no_other_route_does() -> None:
    text = apidoc.API_MD.read_text("utf-8")
    documented = set(re.findall(r"^#### `([A-Z]+ /[^`]*)`", text, flags=re.MULTILINE))
    served = set(openapi.route_table())
    assert documented == served


def test_every_field_of_every_shape_is_listed() -> None:
    text = apidoc.API_MD.read_text("utf-8")
    shapes = text.split("## Shapes", 1)[1]
    for name, schema in DOCUMENT["components"]["schemas"].items():
        section = shapes.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for field in schema.get("properties", {}):
            assert f"| `{field}` |" in section, f"{name}.{field} missing from docs/api.md"


def test_nothing_served_is_called_unbuilt() -> None:
    text = apidoc.API_MD.read_text("utf-8").lower()
    for phrase in ("being built", "not yet served", "under construction", "until they ship"):
        assert phrase not in text


def test_type_expressions() -> None:
    assert apidoc.type_of({"$ref": "#/components/schemas/Note"}) == "[Note](#note)"
    assert apidoc.type_of({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string \\| null"
    assert apidoc.type_of({"type": "array", "items": {"type": "integer"}}) == "array of integer"
    assert apidoc.rule_of({"type": "integer", "minimum": 1, "maximum": 5}) == "≥ 1; ≤ 5"
