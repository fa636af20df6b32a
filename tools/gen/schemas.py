"""The schemas of the OpenAPI document, from the types the routes declare: pydantic
models for bodies and query strings (`model_json_schema()`), TypedDict views for
answers (pydantic's TypeAdapter, at build time only; mypy checks the dicts the code
builds against the same views), and the few hand-written `Named` schemas.

A view's component is named after its class without `View` (`EventCreatedView` →
`EventCreated`), a page of views after the item with `Page`; the names below predate
that rule and are kept so clients generated from the document keep their type names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter

from common.runtime.routedoc import Body, Named, Page, ref

REF = "#/components/schemas/{model}"
Schema = dict[str, Any]

VIEW_NAMES = {
    "common.agents.history.HistoryEntryView": "AgentHistoryEntry",
    "common.triggers.subscriptions.SecretRotatedView": "SubscriptionSecretRotated",
    "common.triggers.subscription_sends.TestSendView": "TestSendResult",
    "common.triggers.subscription_sends.ResendView": "ResendAccepted",
}
PAGE_NAMES = {
    "InboxItem": "InboxPage",
    "QuarantinedItem": "QuarantinePage",
    "SnapshotMeta": "SnapshotPage",
    "AgentHistoryEntry": "AgentHistoryPage",
    "DeliveryAttempt": "DeliveryPage",
}


def obj(properties: Mapping[str, Schema], description: str = "") -> Schema:
    """A closed object whose every property is always present (as the handlers build them)."""
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def page_of(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": nullable({"type": "string"}),
            "has_more": {"type": "boolean"},
        },
        "The list envelope: pass `next_cursor` back as `cursor` for the next page.",
    )


def view_name(view: type) -> str:
    qualified = f"{view.__module__}.{view.__qualname__}"
    return VIEW_NAMES.get(qualified, view.__name__.removesuffix("View"))


class Components:
    """The document's component schemas, added as the routes name them; a name given to
    two different schemas is an error (two views or models would be confused)."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def add(self, name: str, schema: Schema) -> str:
        if self.schemas.get(name, schema) != schema:
            raise ValueError(f"two different schemas are both named {name}")
        self.schemas[name] = schema
        return name

    def _nested(self, schema: Schema) -> Schema:
        for name, definition in schema.pop("$defs", {}).items():
            self.add(name, definition)
        return schema

    def view(self, view: type) -> str:
        """A TypedDict view's component; nested views become components of their own."""
        schema = TypeAdapter(view).json_schema(ref_template=REF)
        return self.add(view_name(view), self._nested(schema))

    def model(self, model: type[BaseModel]) -> str:
        """A request model's component (named as its class)."""
        schema = model.model_json_schema(ref_template=REF)
        return self.add(model.__name__, self._nested(schema))

    def named(self, named: Named) -> str:
        for name, schema in named.refers_to.items():
            if isinstance(schema, dict):
                self.add(name, schema)
            elif self.view(schema) != name:
                raise ValueError(f"{named.name}: {schema.__name__}'s component is not {name}")
        return self.add(named.name, named.schema)

    def body(self, body: Body) -> str | None:
        """The component of a response body (None: no body)."""
        if body is None:
            return None
        if isinstance(body, Named):
            return self.named(body)
        if isinstance(body, Page):
            item = self.view(body.item)
            return self.add(PAGE_NAMES.get(item, f"{item}Page"), page_of(item))
        return self.view(body)
