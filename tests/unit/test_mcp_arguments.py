"""The MCP tools' typed argument models: one validation, the routes' own rules and
messages on typed JSON values, strict types (no string for a number)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from common.context import notes, rehydrate, snapshots, threads
from common.mcp import arguments as args
from common.runtime.http import validation_details

SLUG_MESSAGE = "must be a slug: 1-64 of a-z 0-9 . _ -, starting with a letter or digit"


def _details(model: type[BaseModel], values: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    return [dict(detail) for detail in validation_details(caught.value)]


@pytest.mark.parametrize(
    ("tool_model", "route_model", "field", "value"),
    [
        (args.ListThreadsArgs, threads.ThreadsQuery, "limit", 0),
        (args.ListThreadsArgs, threads.ThreadsQuery, "limit", 201),
        (args.ListThreadsArgs, threads.ThreadsQuery, "cursor", ""),
        (args.ListSnapshotsArgs, snapshots.SnapshotsQuery, "thread_id", "Not A Slug"),
        (args.ListSnapshotsArgs, snapshots.SnapshotsQuery, "cursor", "x" * 4097),
        (args.GetNotesArgs, notes.NotesQuery, "kind", "idea"),
        (args.GetNotesArgs, notes.NotesQuery, "kind", ""),
        (args.GetNotesArgs, notes.NotesQuery, "limit", 500),
        (args.RehydrateArgs, rehydrate.ThreadRenderQuery, "format", "xml"),
        (args.RehydrateArgs, rehydrate.ThreadRenderQuery, "max_tokens", 199),
        (args.RehydrateArgs, rehydrate.ThreadRenderQuery, "max_tokens", 200_001),
        (args.RehydrateArgs, rehydrate.ThreadRenderQuery, "since", "x" * 65),
        (args.RehydrateArgs, rehydrate.ThreadRenderQuery, "thread_id", "-dash"),
    ],
)
def test_a_bad_typed_value_reads_as_the_same_value_in_a_query_string(
    tool_model: type[BaseModel], route_model: type[BaseModel], field: str, value: Any
) -> None:
    base = {"thread_id": "t1"} if "thread_id" in route_model.model_fields else {}
    typed = _details(tool_model, {**base, field: value})
    over_http = _details(route_model, {**base, field: str(value)})
    assert typed == over_http
    assert typed[0]["field"] == field


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"thread_id": "t1", "limit": "5"}, [("limit", "Input should be a valid integer")]),
        ({"thread_id": "t1", "limit": True}, [("limit", "Input should be a valid integer")]),
        ({"thread_id": "t1", "limit": 5.5}, [("limit", "Input should be a valid integer")]),
        ({"thread_id": 7}, [("thread_id", "Input should be a valid string")]),
        ({"thread_id": "t1", "kind": ["todo"]}, [("kind", "Input should be a valid string")]),
        ({"limit": 1}, [("thread_id", "Field required")]),
        ({"thread_id": "t1", "colour": "red"}, [("colour", "unknown field")]),
        # One pass reports every problem (as the HTTP API does for a query string).
        (
            {"thread_id": "Bad", "limit": 0},
            [("thread_id", SLUG_MESSAGE), ("limit", "must be an integer from 1 to 200")],
        ),
    ],
)
def test_types_are_strict_and_every_problem_is_listed(
    values: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    details = _details(args.GetNotesArgs, values)
    assert [(d["field"], d["message"]) for d in details] == expected


def test_valid_arguments_become_typed_values_with_the_routes_defaults() -> None:
    given = args.GetNotesArgs.model_validate({"thread_id": "t1", "kind": "todo"})
    assert (given.thread_id, given.kind, given.limit, given.cursor) == ("t1", "todo", 50, None)
    found = args.SearchNotesArgs.model_validate({"query": "tax"})
    assert (found.query, found.thread_id, found.kind, found.limit) == ("tax", None, None, 20)
    assert args.SearchNotesArgs.model_validate({"query": "tax", "limit": 100}).limit == 100
    assert _details(args.SearchNotesArgs, {"query": "", "limit": 101}) == [
        {"field": "query", "message": "must be 1-200 characters"},
        {"field": "limit", "message": "must be an integer from 1 to 100"},
    ]
    rendering = args.RehydrateArgs.model_validate({"snapshot_id": "anything", "max_tokens": 200})
    assert (rendering.format, rendering.max_tokens, rendering.thread_id) == ("markdown", 200, None)


def test_an_optional_argument_is_documented_as_its_type() -> None:
    schema = args.input_schema(args.RehydrateArgs)
    assert schema["properties"]["max_tokens"] == {
        "description": "A token budget",
        "maximum": 200_000,
        "minimum": 200,
        "type": "integer",
    }
    assert "required" not in schema
    assert args.input_schema(args.GetNotesArgs)["required"] == ["thread_id"]
    source = args.input_schema(notes.NoteIn)["properties"]["source"]
    assert source == {"anyOf": [{"$ref": "#/$defs/SourceRef"}, {"type": "null"}]}


def test_a_tool_hands_the_domain_its_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """No round trip through query strings: the domain gets the model's values."""
    from common.context import search
    from common.mcp import catalog
    from common.runtime.http import Principal

    seen: list[tuple[Any, ...]] = []

    def list_notes(*given: Any) -> tuple[list[Any], None]:
        seen.append(given)
        return [], None

    def search_notes(*given: Any, **named: Any) -> dict[str, Any]:
        seen.append((*given, named))
        return {"items": [], "searched": {"threads": 0, "notes": 0, "complete": True}}

    monkeypatch.setattr(notes, "list_notes", list_notes)
    monkeypatch.setattr(search, "search_notes", search_notes)
    principal = Principal(tenant="acme", role="viewer", key_id="k")
    arguments = {"thread_id": "t1", "kind": "todo", "limit": 5, "cursor": None}
    assert catalog.call_tool(principal, "get_notes", arguments)["isError"] is False
    catalog.call_tool(principal, "search_notes", {"query": "tax", "limit": 7})
    assert seen == [
        ("acme", "t1", "todo", 5, None),
        ("acme", "tax", {"thread_id": None, "kind": None, "limit": 7}),
    ]
