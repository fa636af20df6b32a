"""The OpenAPI 3.1 document of the HTTP API: `python -m tools.gen.openapi` writes
`common/openapi.json`, which the status function serves at `GET /openapi.json`.

Generated, never edited by hand:
- routes and their auth come from the handlers' `ROUTES` tables (which tests/infra
  keeps equal to `infra/functions.tf`);
- request bodies from the pydantic models the handlers validate with
  (`model_json_schema()`), so a documented body is exactly what the code accepts;
- responses, query parameters and summaries from `OPERATIONS` below, one entry per
  route key (a unit test fails when a route has no entry or an entry has no route).

The document is written as a package-data file rather than built at request time so
a cold start never pays for pydantic schema generation.  `--check` exits 1 when the
committed file is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from common import __version__
from common.agents import registry as agents
from common.api import Route
from common.context import notes, snapshots
from common.runtime.http import MAX_LIMIT
from common.triggers import events, inbox
from common.triggers import subscriptions as subs
from handlers.inbox import InboxQuery, QuarantineQuery
from handlers.subscriptions import ListQuery as SubscriptionListQuery

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "common" / "openapi.json"
REF = "#/components/schemas/{model}"
JSON = "application/json"
MARKDOWN = "text/markdown; charset=utf-8"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


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


def page_of(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": nullable({"type": "string"}),
            "has_more": {"type": "boolean"},
        },
        "The list envelope: pass `next_cursor` back as `cursor` for the next page.",
    )


TIME: Schema = {"type": "string", "description": "RFC 3339 UTC, millisecond precision, Z"}
ID: Schema = {"type": "string", "description": "Opaque id; sorts in creation order"}
COUNT: Schema = {"type": "integer", "minimum": 0}
REDACTIONS: Schema = {
    "type": "object",
    "additionalProperties": COUNT,
    "description": "Secrets the server redacted before storing, counted by kind.",
}

# --------------------------------------------------------------------------- responses
# Hand-written: the handlers build these dicts directly (no response models at run
# time).  tests/unit/test_openapi.py validates real handler responses against them.

_EVENT_CREATED = {
    "event_id": ID,
    "event_type": {"type": "string"},
    "source": nullable({"type": "string"}),
    "received_at": TIME,
    "status": {"const": "pending"},
    "duplicate": {"type": "boolean"},
}
_INBOX_ITEM = {
    "event_id": ID,
    "event_type": {"type": "string"},
    "payload": {"type": "object"},
    "source": nullable({"type": "string"}),
    "occurred_at": nullable(TIME),
    "received_at": TIME,
}
_NOTE = {
    "note_id": ID,
    "thread_id": {"type": "string"},
    "kind": {"enum": list(notes.NOTE_KINDS)},
    "text": {"type": "string"},
    "source": nullable(ref("SourceRef")),
    "tags": {"type": "array", "items": {"type": "string"}},
    "created_at": TIME,
}
_SNAPSHOT = {
    "snapshot_id": ID,
    "thread_id": {"type": "string"},
    "created_at": TIME,
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "size_bytes": COUNT,
    "counts": obj(dict.fromkeys(("commits", "changes", "markers", "notes", "tasks"), COUNT)),
}
_FIGURES = {"type": "object", "additionalProperties": True}
_AGENT = {
    "agent_id": ID,
    "name": {"type": "string"},
    "region": nullable({"type": "string"}),
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "status": {"enum": ["healthy", "unhealthy", "dead"]},
    "heartbeat_interval_seconds": {"type": "integer", "minimum": 1},
    "created_at": TIME,
    "last_heartbeat_at": nullable(TIME),
    "last_heartbeat": nullable(_FIGURES),
}
_NULLABLE_COUNT = nullable(COUNT)
_WHSEC: Schema = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]{43}=$"}
_SUBSCRIPTION = {
    "subscription_id": ID,
    "url": {"type": "string"},
    "event_types": nullable({"type": "array", "items": {"type": "string"}}),
    "description": nullable({"type": "string"}),
    "status": {"enum": ["active", "disabled"]},
    "created_at": TIME,
    "last_success_at": nullable(TIME),
    "last_failure_at": nullable(TIME),
    "consecutive_failures": COUNT,
}
# The registration answer is the contract's list: no status or heartbeat yet.
_REGISTERED = ("agent_id", "name", "region", "labels", "heartbeat_interval_seconds", "created_at")

RESPONSE_SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {
                        "enum": [
                            "invalid_json",
                            "validation_error",
                            "invalid_cursor",
                            "unauthorized",
                            "forbidden",
                            "not_found",
                            "conflict",
                            "payload_too_large",
                            "unsupported_media_type",
                            "rate_limited",
                            "service_unavailable",
                            "internal_error",
                        ]
                    },
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                            },
                            "required": ["field", "message"],
                        },
                    },
                    "request_id": {"type": "string"},
                }
            )
        },
        "Every error has this shape; nothing else (no stack traces, no AWS text).",
    ),
    "EventCreated": obj(_EVENT_CREATED),
    "Event": obj(
        {
            **_INBOX_ITEM,
            "status": {"enum": ["pending", "delivered", "quarantined"]},
            "delivered_at": nullable(TIME),
        }
    ),
    "InboxItem": obj(
        {
            **_INBOX_ITEM,
            "attempts": COUNT,
            "leased_until": nullable(TIME),
        }
    ),
    "InboxPage": page_of("InboxItem"),
    "AckResult": obj(
        {
            "acknowledged": {"type": "array", "items": ID},
            "lease_lost": {"type": "array", "items": ID},
            "not_found": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "Lease": obj(
        {
            "lease_id": {"type": "string", "description": "Opaque; names this lease"},
            "expires_at": TIME,
            "items": {"type": "array", "items": ref("LeasedItem")},
        }
    ),
    "LeasedItem": obj({**_INBOX_ITEM, "attempts": {"type": "integer", "minimum": 1}}),
    "ReleaseResult": obj(
        {
            "released": {"type": "array", "items": ID},
            "not_found": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "QuarantinedItem": obj({**_INBOX_ITEM, "attempts": COUNT, "quarantined_at": TIME}),
    "QuarantinePage": page_of("QuarantinedItem"),
    "RequeueResult": obj(
        {
            "requeued": {"type": "array", "items": ID},
            "not_found": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "Note": obj(_NOTE),
    "NoteCreated": obj({**_NOTE, "redactions": REDACTIONS}),
    "NotePage": page_of("Note"),
    "SnapshotMeta": obj(_SNAPSHOT),
    "SnapshotCreated": obj({**_SNAPSHOT, "redactions": REDACTIONS}),
    "SnapshotPage": page_of("SnapshotMeta"),
    "Thread": obj(
        {
            "thread_id": {"type": "string"},
            "goal": {"type": "string"},
            "persona": {"type": "string"},
            "notes_count": COUNT,
            "snapshots_count": COUNT,
            "newest_snapshot_id": nullable(ID),
            "newest_snapshot_at": nullable(TIME),
            "created_at": nullable(TIME),
            "last_activity_at": nullable(TIME),
        }
    ),
    "ThreadPage": page_of("Thread"),
    "ThreadDeletion": obj(
        {
            "thread_id": {"type": "string"},
            "status": {"const": "deleting"},
            "remaining": obj({"notes": COUNT, "snapshots": COUNT}),
        },
        "The deletion ran out of its time budget; DELETE again to continue.",
    ),
    "RehydrateDocument": {
        "type": "object",
        "description": "The markdown document's sections as structured data (format=json).",
    },
    "Agent": obj(_AGENT),
    "AgentCreated": obj(
        {
            **{k: v for k, v in _AGENT.items() if k in _REGISTERED},
            "secret": {"type": "string", "description": "Shown once, never again."},
        }
    ),
    "AgentPage": page_of("Agent"),
    "HeartbeatAccepted": obj(
        {"status": {"const": "healthy"}, "next_check_interval": {"type": "integer"}}
    ),
    "Status": obj({"status": {"const": "ok"}, "version": {"type": "string"}}),
    "DayFigures": obj(
        {
            "day": {"type": "string", "format": "date"},
            "events_received": _NULLABLE_COUNT,
            "events_duplicate": _NULLABLE_COUNT,
            "events_delivered": _NULLABLE_COUNT,
            "events_leased": _NULLABLE_COUNT,
            "events_released": _NULLABLE_COUNT,
            "events_quarantined": _NULLABLE_COUNT,
            "notes_created": _NULLABLE_COUNT,
            "snapshots_created": _NULLABLE_COUNT,
            "heartbeats": _NULLABLE_COUNT,
            "deliveries_succeeded": _NULLABLE_COUNT,
            "deliveries_failed": _NULLABLE_COUNT,
            "deliveries_exhausted": _NULLABLE_COUNT,
            "inbox_pending": _NULLABLE_COUNT,
            "inbox_oldest_pending_age_seconds": nullable({"type": "number", "minimum": 0}),
            "inbox_leased": _NULLABLE_COUNT,
            "agents": nullable({"type": "object", "additionalProperties": COUNT}),
            "computed_at": nullable(TIME),
            "final": {"type": "boolean"},
        }
    ),
    "OpenApiDocument": {"type": "object", "description": "This document."},
    "Subscription": obj(_SUBSCRIPTION),
    "SubscriptionCreated": obj(
        {**_SUBSCRIPTION, "secret": {**_WHSEC, "description": "Shown once, never again."}}
    ),
    "SubscriptionPage": page_of("Subscription"),
    "SecretRotated": obj(
        {
            "subscription_id": ID,
            "secret": {**_WHSEC, "description": "Shown once; the previous one signs too for 24 h."},
            "previous_secret_expires_at": TIME,
        }
    ),
    "DeliveryAttempt": obj(
        {
            "event_id": ID,
            "attempt": {"type": "integer", "minimum": 1, "maximum": 8},
            "status_code": nullable({"type": "integer"}),
            "error": nullable({"type": "string"}),
            "duration_ms": COUNT,
            "attempted_at": TIME,
            "next_attempt_at": nullable(TIME),
        }
    ),
    "DeliveryPage": page_of("DeliveryAttempt"),
    "ReplayAccepted": obj({"replay_id": ID, "events": COUNT}),
}

# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    required: bool = False
    where: str = "query"
    description: str = ""


LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50})
CURSOR = Param("cursor", {"type": "string"}, description="From `next_cursor`")
SLUG: Schema = {"type": "string", "pattern": notes.SLUG_PATTERN}
THREAD_ID = Param("thread_id", SLUG, required=True)
RENDER = (
    Param("format", {"enum": ["markdown", "json"], "default": "markdown"}),
    Param("max_tokens", {"type": "integer", "minimum": 200, "maximum": 200_000}),
    Param("since", {"type": "string"}, description="An earlier snapshot of the same thread"),
)
AGENT_SIGNATURE = (
    Param(
        "X-Agent-Timestamp",
        {"type": "string", "pattern": "^[0-9]{1,12}$"},
        required=True,
        where="header",
        description="Unix seconds; within 300 s of server time and newer than the last one.",
    ),
    Param(
        "X-Agent-Signature",
        {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"},
        required=True,
        where="header",
        description='v1=hex HMAC-SHA256(secret, "{timestamp}\\n{METHOD}\\n{path}\\n'
        '{hex sha256(body)}")',
    ),
)


@dataclass(frozen=True)
class Operation:
    """What the route table cannot say: summary, success responses, query parameters."""

    summary: str
    ok: Mapping[int, str | None]  # status → response schema name (None: no body)
    params: Sequence[Param] = ()
    body: type[BaseModel] | None = None
    errors: Sequence[int] = ()  # beyond the ones derived from auth, body and params
    markdown: bool = False  # 200 may also be text/markdown
    description: str = ""
    query_model: type[BaseModel] | None = None  # its fields must equal `params`' names


OPERATIONS: dict[str, Operation] = {
    "POST /events": Operation(
        "Push an event (duplicates within 5 minutes answer 200 with the original id)",
        {201: "EventCreated", 200: "EventCreated"},
        params=(Param("Idempotency-Key", {"type": "string", "minLength": 1}, where="header"),),
        body=events.NewEvent,
        errors=(409,),
    ),
    "GET /events/{event_id}": Operation("One event", {200: "Event"}),
    "DELETE /events/{event_id}": Operation("Acknowledge delivery (idempotent)", {204: None}),
    "GET /inbox": Operation(
        "Pending events, oldest first",
        {200: "InboxPage"},
        params=(LIMIT, CURSOR, Param("event_type", {"type": "string", "minLength": 1})),
        query_model=InboxQuery,
    ),
    "POST /inbox/lease": Operation(
        "Lease the oldest available events (exactly one holder at a time)",
        {200: "Lease"},
        body=inbox.LeaseRequest,
        description="An empty body takes the defaults. An empty `items` list is a lease "
        "that holds nothing.",
    ),
    "POST /inbox/ack": Operation(
        "Acknowledge up to 100 events, or the events of a lease",
        {200: "AckResult"},
        body=inbox.AckRequest,
        errors=(404,),
        description="`event_ids`, or `lease_id` with optional `event_ids` (default: all of "
        "the lease). 404 for an unknown lease id.",
    ),
    "POST /inbox/release": Operation(
        "Give leased events back, available again after `delay_seconds`",
        {200: "ReleaseResult"},
        body=inbox.ReleaseRequest,
        errors=(404,),
    ),
    "GET /inbox/quarantine": Operation(
        "Events leased max_attempts times and not acknowledged, oldest quarantine first",
        {200: "QuarantinePage"},
        params=(LIMIT, CURSOR),
        query_model=QuarantineQuery,
    ),
    "POST /inbox/quarantine/requeue": Operation(
        "Make quarantined events pending again with attempts 0",
        {200: "RequeueResult"},
        body=inbox.RequeueRequest,
    ),
    "POST /notes": Operation(
        "Add a note to a thread",
        {201: "NoteCreated"},
        body=notes.NoteIn,
        errors=(409,),
        description="409 while the thread is being deleted.",
    ),
    "GET /notes": Operation(
        "A thread's notes, oldest first",
        {200: "NotePage"},
        params=(THREAD_ID, Param("kind", {"enum": list(notes.NOTE_KINDS)}), LIMIT, CURSOR),
    ),
    "GET /notes/{note_id}": Operation("One note", {200: "Note"}),
    "DELETE /notes/{note_id}": Operation("Delete a note", {204: None}),
    "POST /hydrate": Operation(
        "Store a snapshot of a project's working state (body ≤ 5 MiB)",
        {201: "SnapshotCreated"},
        body=snapshots.SnapshotIn,
        errors=(409,),
        description="409 while the thread is being deleted.",
    ),
    "GET /snapshots": Operation(
        "A thread's snapshot metadata, newest first",
        {200: "SnapshotPage"},
        params=(THREAD_ID, LIMIT, CURSOR),
    ),
    "GET /snapshots/{snapshot_id}": Operation("One snapshot's metadata", {200: "SnapshotMeta"}),
    "DELETE /snapshots/{snapshot_id}": Operation(
        "Delete a snapshot (object versions, then metadata)", {204: None}
    ),
    "GET /threads": Operation(
        "The tenant's threads, newest activity first", {200: "ThreadPage"}, (LIMIT, CURSOR)
    ),
    "DELETE /threads/{thread_id}": Operation(
        "Delete a thread with its notes and snapshots",
        {204: None, 202: "ThreadDeletion"},
        description="202 when the time budget ran out; call again to continue.",
    ),
    "GET /rehydrate": Operation(
        "Render the thread's newest snapshot",
        {200: "RehydrateDocument"},
        params=(THREAD_ID, *RENDER),
        markdown=True,
    ),
    "GET /rehydrate/{snapshot_id}": Operation(
        "Render a snapshot", {200: "RehydrateDocument"}, params=RENDER, markdown=True
    ),
    "POST /agents": Operation(
        "Register an agent (the secret is shown once)",
        {201: "AgentCreated"},
        body=agents.RegisterAgent,
        errors=(409,),
    ),
    "GET /agents": Operation(
        "The tenant's agents",
        {200: "AgentPage"},
        params=(
            Param("status", {"enum": ["healthy", "unhealthy", "dead"]}),
            Param("region", {"type": "string", "minLength": 1, "maxLength": 64}),
            LIMIT,
            CURSOR,
        ),
        query_model=agents.AgentQuery,
    ),
    "GET /agents/{agent_id}": Operation("One agent", {200: "Agent"}),
    "POST /agents/{agent_id}/heartbeat": Operation(
        "A signed heartbeat (no API key: the agent's HMAC signature authenticates it)",
        {200: "HeartbeatAccepted"},
        params=AGENT_SIGNATURE,
        body=agents.HeartbeatFigures,
        errors=(401,),
        description="A timestamp more than 300 s off, a wrong signature or a replayed "
        "timestamp answer 401, and so does an unknown agent id.",
    ),
    "GET /status": Operation("Liveness and version", {200: "Status"}),
    "GET /stats": Operation(
        "The tenant's figures for a day (today's are live)",
        {200: "DayFigures"},
        params=(Param("day", {"type": "string", "format": "date"}),),
        errors=(404,),
    ),
    "GET /openapi.json": Operation("This document", {200: "OpenApiDocument"}),
    "POST /subscriptions": Operation(
        "Subscribe a URL to push delivery (the whsec_ secret is shown once)",
        {201: "SubscriptionCreated"},
        body=subs.NewSubscription,
        description="400 validation_error on `url` when the SSRF guard refuses it: https "
        "on port 443 or 8443 only, and the host must resolve only to public unicast "
        "addresses.",
    ),
    "GET /subscriptions": Operation(
        "The tenant's subscriptions",
        {200: "SubscriptionPage"},
        params=(LIMIT, CURSOR),
        query_model=SubscriptionListQuery,
    ),
    "GET /subscriptions/{subscription_id}": Operation(
        "One subscription (never its secret)", {200: "Subscription"}
    ),
    "DELETE /subscriptions/{subscription_id}": Operation("Delete a subscription", {204: None}),
    "POST /subscriptions/{subscription_id}/enable": Operation(
        "Activate a subscription again (after an auto-disable)", {200: "Subscription"}
    ),
    "POST /subscriptions/{subscription_id}/rotate-secret": Operation(
        "A new signing secret; the old one keeps signing alongside for 24 h",
        {200: "SecretRotated"},
    ),
    "GET /subscriptions/{subscription_id}/deliveries": Operation(
        "Delivery attempts, newest first",
        {200: "DeliveryPage"},
        params=(LIMIT, CURSOR),
        query_model=SubscriptionListQuery,
    ),
    "POST /subscriptions/{subscription_id}/replay": Operation(
        "Re-send the retained events of a time window (202: sent in the background)",
        {202: "ReplayAccepted"},
        body=subs.ReplayRequest,
    ),
}

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

# --------------------------------------------------------------------------- building


def route_table() -> dict[str, Route]:
    """Every route key → its Route, from the handler modules infra/ names."""
    from tools.local import infra_model

    routes: dict[str, Route] = {}
    for route_key, function in infra_model.route_table().items():
        module = importlib.import_module(f"handlers.{function}")
        routes[route_key] = module.ROUTES[route_key]
    return routes


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _error_statuses(route: Route, op: Operation, path: str) -> list[int]:
    statuses = {500, 503, *op.errors}
    if route.auth != "none":
        statuses |= {401, 429}
    if route.auth == "creator":
        statuses.add(403)
    if op.body is not None:
        statuses |= {400, 413, 415}
    if op.params or _path_params(path):
        statuses |= {400, 404}
    return sorted(statuses)


def _headers(*names: str) -> Schema:
    described = {
        "X-Request-ID": "The client's X-Request-ID when well-formed, else the gateway's id.",
        "Retry-After": "Seconds to wait before retrying.",
    }
    return {
        name: {"description": described[name], "schema": {"type": "string"}, "required": True}
        for name in names
    }


def _responses(route: Route, op: Operation, path: str) -> Schema:
    responses: Schema = {}
    for status, schema_name in sorted(op.ok.items()):
        response: Schema = {"description": schema_name or "No content"}
        response["headers"] = _headers("X-Request-ID")
        if schema_name is not None:
            response["content"] = {JSON: {"schema": ref(schema_name)}}
            if op.markdown and status == 200:
                response["content"][MARKDOWN] = {"schema": {"type": "string"}}
        responses[str(status)] = response
    for status in _error_statuses(route, op, path):
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
            "content": {JSON: {"schema": ref("Error")}},
        }
    return shared


def _parameters(op: Operation, path: str) -> list[Schema]:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(path)
    ]
    for param in op.params:
        entry: Schema = {"name": param.name, "in": param.where, "schema": param.schema}
        if param.required:
            entry["required"] = True
        if param.description:
            entry["description"] = param.description
        parameters.append(entry)
    return parameters


def _body(model: type[BaseModel], max_body: int, components: dict[str, Schema]) -> Schema:
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    _add_component(components, model.__name__, schema)
    return {
        "required": True,
        "description": f"At most {max_body} bytes; unknown fields are refused.",
        "content": {JSON: {"schema": ref(model.__name__)}},
    }


def _add_component(components: dict[str, Schema], name: str, schema: Schema) -> None:
    if components.get(name, schema) != schema:
        raise ValueError(f"two different schemas are both named {name}")
    components[name] = schema


def _operation(
    route_key: str, route: Route, op: Operation, components: dict[str, Schema]
) -> Schema:
    path = route_key.split(" ", 1)[1]
    operation: Schema = {
        "operationId": route.fn.__name__,
        "summary": op.summary,
        "security": [] if route.auth == "none" else [{"bearer": []}],
        "responses": _responses(route, op, path),
    }
    if op.description:
        operation["description"] = op.description
    if route.auth != "none":
        operation["x-dockhand-role"] = route.auth
    parameters = _parameters(op, path)
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = _body(op.body, route.max_body, components)
    return operation


def build_document(routes: Mapping[str, Route] | None = None) -> Schema:
    routes = route_table() if routes is None else routes
    missing = sorted(set(routes) - set(OPERATIONS))
    extra = sorted(set(OPERATIONS) - set(routes))
    if missing or extra:
        raise ValueError(
            f"OPERATIONS out of step with the routes: missing {missing}, extra {extra}"
        )
    components: dict[str, Schema] = dict(RESPONSE_SCHEMAS)
    paths: dict[str, Schema] = {}
    for route_key in sorted(routes, key=lambda key: (key.split(" ", 1)[1], key)):
        method, path = route_key.split(" ", 1)
        operation = _operation(route_key, routes[route_key], OPERATIONS[route_key], components)
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dockhand",
            "version": __version__,
            "description": "Triggers, context snapshots, agents and aggregates. "
            "Generated by tools/openapi.py from the handlers' route tables and "
            "pydantic models; do not edit by hand.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(build_document())
    current = DOCUMENT_PATH.read_text("utf-8") if DOCUMENT_PATH.exists() else ""
    if args.check:
        if current != text:
            print(f"{DOCUMENT_PATH} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOCUMENT_PATH.write_text(text, "utf-8")
    print(f"wrote {DOCUMENT_PATH} ({len(build_document()['paths'])} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
