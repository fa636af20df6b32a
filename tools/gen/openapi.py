"""The OpenAPI 3.1 document of the HTTP API: `python -m tools.gen.openapi` writes
`common/openapi.json`, which the status function serves at `GET /openapi.json`.

Generated, never edited by hand:
- routes and their auth come from the handlers' `ROUTES` tables (which tests/infra
  keeps equal to `infra/functions.tf`);
- request bodies from the pydantic models the handlers validate with
  (`model_json_schema()`), so a documented body is exactly what the code accepts;
- response bodies from the TypedDict views the domain functions are annotated to
  return (pydantic's TypeAdapter here, at build time; mypy checks the dicts the code
  builds against the same views), except the few schemas still written below;
- which response each route gives, query parameters and summaries from `OPERATIONS`
  below, one entry per route key (a unit test fails when a route has no entry or an
  entry has no route).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from common import __version__
from common.agents import heartbeats, history, layout, work
from common.agents import registry as agents
from common.api import Route
from common.context import notes, rehydrate, snapshots, threads
from common.mcp import protocol as mcp_protocol
from common.runtime import http
from common.runtime.models import PageQuery, QueryModel
from common.stats import ranges, rollup
from common.triggers import delivery_log, events, queues, subscription_sends
from common.triggers import subscription_input as sub_inputs
from common.triggers import subscriptions as subs
from common.triggers.inbox import ack, extend, lease, listing, quarantine, release
from handlers import status as status_handler

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "common" / "openapi.json"
EVENTS_DIR = DOCUMENT_PATH.parents[1] / "tests" / "events"
REF = "#/components/schemas/{model}"
JSON = "application/json"
MARKDOWN = "text/markdown; charset=utf-8"
HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"

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

# --------------------------------------------------------------------------- responses
# The handlers build plain dicts (no response models at run time); tests/unit/
# test_openapi.py validates real handler responses against these schemas.  Still
# hand-written: the JSON-RPC messages of POST /mcp, and the documents answered as a
# whole (rehydrate's JSON form, this document).

# A response is a hand-written schema or a TypedDict view (turned into a schema with
# pydantic's TypeAdapter below): views are the types the domain functions return.
RESPONSE_SCHEMAS: dict[str, Schema | type] = {
    "Error": http.ErrorView,
    "EventCreated": events.EventCreatedView,
    "Event": events.EventView,
    "InboxItem": listing.InboxItemView,
    "InboxPage": page_of("InboxItem"),
    "AckResult": ack.AckResultView,
    "Lease": lease.LeaseView,
    "LeasedItem": lease.LeasedItem,
    "ReleaseResult": release.ReleaseResultView,
    "ExtendResult": extend.ExtendResultView,
    "QuarantinedItem": quarantine.QuarantinedItemView,
    "QuarantinePage": page_of("QuarantinedItem"),
    "RequeueResult": quarantine.RequeueResultView,
    "Queue": queues.QueueView,
    "QueuePage": page_of("Queue"),
    "QueueDetail": queues.QueueDetailView,
    "Note": notes.NoteView,
    "NoteCreated": notes.NoteCreatedView,
    "NotePage": page_of("Note"),
    "SnapshotMeta": snapshots.SnapshotMetaView,
    "SnapshotCreated": snapshots.SnapshotCreatedView,
    "SnapshotPage": page_of("SnapshotMeta"),
    "Thread": threads.ThreadView,
    "ThreadPage": page_of("Thread"),
    "ThreadDeletion": threads.ThreadDeletionView,
    "RehydrateDocument": {
        "type": "object",
        "description": "The markdown document's sections as structured data (format=json).",
    },
    "Agent": layout.AgentView,
    "AgentDetail": agents.AgentDetailView,
    "AgentCreated": agents.AgentCreatedView,
    "AgentPage": page_of("Agent"),
    "HeartbeatAccepted": heartbeats.HeartbeatAcceptedView,
    "Status": status_handler.StatusView,
    "DayFigures": rollup.DayFiguresView,
    "OpenApiDocument": {"type": "object", "description": "This document."},
    "AgentHistoryEntry": history.HistoryEntryView,
    "AgentHistoryPage": page_of("AgentHistoryEntry"),
    "SecretRotated": agents.SecretRotatedView,
    "StatsRange": ranges.StatsRangeView,
    "RangeDay": ranges.RangeDay,
    "StatsAnswer": {"anyOf": [ref("DayFigures"), ref("StatsRange")]},
    # POST /mcp speaks JSON-RPC 2.0: its answers are JSON-RPC messages, not the envelope.
    "JsonRpcReply": {
        "description": "A JSON-RPC response (result or error), or an array of them answering "
        "a 2025-03-26 batch.",
        "anyOf": [ref("JsonRpcResponse"), {"type": "array", "items": ref("JsonRpcResponse")}],
    },
    "JsonRpcResponse": {
        "type": "object",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "result": {"type": "object"},
            "error": ref("JsonRpcErrorObject"),
        },
        "required": ["jsonrpc", "id"],
        "oneOf": [{"required": ["result"]}, {"required": ["error"]}],
    },
    "JsonRpcErrorObject": {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "data": {},
        },
        "required": ["code", "message"],
    },
    "JsonRpcRefusal": {
        "description": "The body as a whole was refused: a JSON-RPC error with a null id "
        "(or, for a 2025-03-26 batch of which nothing was a message, one per element).",
        "anyOf": [ref("JsonRpcResponse"), {"type": "array", "items": ref("JsonRpcResponse")}],
    },
    "Subscription": subs.SubscriptionView,
    "SubscriptionCreated": subs.SubscriptionCreatedView,
    "SubscriptionPage": page_of("Subscription"),
    "SubscriptionSecretRotated": subs.SecretRotatedView,
    "DeliveryAttempt": delivery_log.DeliveryAttemptView,
    "DeliveryPage": page_of("DeliveryAttempt"),
    "TestSendResult": subscription_sends.TestSendView,
    "ResendAccepted": subscription_sends.ResendView,
    "ReplayAccepted": subs.ReplayAcceptedView,
}

# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    required: bool = False
    where: str = "query"
    description: str = ""


AGENT_SIGNATURE = (
    Param(
        "X-Agent-Timestamp",
        {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,3})?$"},
        required=True,
        where="header",
        description="Unix seconds, optionally with milliseconds (1765000000.123); within "
        "300 s of server time. Heartbeats: newer than the last accepted one; worker calls "
        "(lease, ack, release): each signature is accepted once.",
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
    csv: bool = False  # 200 may also be text/csv
    html: bool = False  # 200 is an HTML document (no JSON)
    description: str = ""
    query: type[QueryModel] | None = None  # the query parameters, derived from the model
    raw_body: Schema | None = None  # a body no pydantic model describes (JSON-RPC)
    optional_body: bool = False  # the body may be left out (POST .../enable)
    # status → (schema, description) of error answers that are not the Error envelope
    own_errors: Mapping[int, tuple[str, str]] = field(default_factory=dict)


# POST /mcp's body: what the transport accepts before the protocol looks at it.
_JSONRPC_ID: Schema = {"type": ["string", "integer"]}
_JSONRPC_MESSAGE: Schema = {
    "anyOf": [
        {
            "type": "object",
            "title": "request or notification",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": _JSONRPC_ID,
                "method": {"type": "string", "minLength": 1},
                "params": {"type": "object"},
            },
        },
        {
            "type": "object",
            "title": "response",
            "required": ["jsonrpc", "id"],
            "properties": {"jsonrpc": {"const": "2.0"}, "id": _JSONRPC_ID, "result": {}},
        },
    ]
}


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
        "Pending events of a queue (leased or not), oldest first",
        {200: "InboxPage"},
        query=listing.InboxQuery,
        errors=(404,),
        description="`queue` defaults to `inbox` (the tenant inbox); an unknown queue is 404.",
    ),
    "POST /inbox/lease": Operation(
        "Lease the oldest available events (exactly one holder at a time)",
        {200: "Lease"},
        body=lease.LeaseRequest,
        errors=(404,),
        description="`{}` takes the defaults. An empty `items` list is a lease that holds nothing.",
    ),
    "POST /inbox/ack": Operation(
        "Acknowledge up to 100 events, or the events of a lease",
        {200: "AckResult"},
        body=ack.AckRequest,
        errors=(404,),
        description="`event_ids`, or `lease_id` with optional `event_ids` (default: all of "
        "the lease). 404 for an unknown lease id.",
    ),
    "POST /inbox/release": Operation(
        "Give leased events back, available again after `delay_seconds`",
        {200: "ReleaseResult"},
        body=release.ReleaseRequest,
        errors=(404,),
    ),
    "POST /inbox/extend": Operation(
        "Hold a lease's events `lease_seconds` from now (ChangeMessageVisibility)",
        {200: "ExtendResult"},
        body=extend.ExtendRequest,
        errors=(404,),
        description="`event_ids` default to all of the lease; events another lease took "
        "since are `lease_lost`.",
    ),
    "GET /inbox/quarantine": Operation(
        "Events leased max_attempts times and not acknowledged, oldest quarantine first",
        {200: "QuarantinePage"},
        query=quarantine.QuarantineQuery,
        errors=(404,),
    ),
    "POST /inbox/quarantine/requeue": Operation(
        "Make quarantined events pending again with attempts 0",
        {200: "RequeueResult"},
        body=quarantine.RequeueRequest,
        errors=(404,),
    ),
    "POST /queues": Operation(
        "Add a named queue: its own copy of every matching event created from now on",
        {201: "Queue"},
        body=queues.NewQueue,
        errors=(409,),
        description="409 for a name in use, for `inbox` (the tenant inbox), and beyond "
        f"{queues.MAX_QUEUES} named queues per tenant.",
    ),
    "GET /queues": Operation(
        "The tenant's queues, `inbox` first", {200: "QueuePage"}, query=queues.QueuesQuery
    ),
    "GET /queues/{name}": Operation("One queue with its backlog", {200: "QueueDetail"}),
    "DELETE /queues/{name}": Operation(
        "Delete a named queue and its entries",
        {204: None},
        errors=(409,),
        description="The tenant inbox cannot be deleted (409).",
    ),
    "POST /notes": Operation(
        "Add a note to a thread",
        {201: "NoteCreated"},
        body=notes.NoteIn,
        errors=(409,),
        description="409 while the thread is being deleted.",
    ),
    "GET /notes": Operation(
        "A thread's notes, oldest first", {200: "NotePage"}, query=notes.NotesQuery
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
        query=snapshots.SnapshotsQuery,
    ),
    "GET /snapshots/{snapshot_id}": Operation("One snapshot's metadata", {200: "SnapshotMeta"}),
    "DELETE /snapshots/{snapshot_id}": Operation(
        "Delete a snapshot (object versions, then metadata)", {204: None}
    ),
    "GET /threads": Operation(
        "The tenant's threads, newest activity first",
        {200: "ThreadPage"},
        query=threads.ThreadsQuery,
    ),
    "DELETE /threads/{thread_id}": Operation(
        "Delete a thread with its notes and snapshots",
        {204: None, 202: "ThreadDeletion"},
        description="202 when the time budget ran out; call again to continue.",
    ),
    "GET /rehydrate": Operation(
        "Render the thread's newest snapshot",
        {200: "RehydrateDocument"},
        query=rehydrate.ThreadRenderQuery,
        markdown=True,
    ),
    "GET /rehydrate/{snapshot_id}": Operation(
        "Render a snapshot",
        {200: "RehydrateDocument"},
        query=rehydrate.RenderQuery,
        markdown=True,
    ),
    "POST /mcp": Operation(
        "Model Context Protocol (Streamable HTTP, stateless, JSON responses)",
        {200: "JsonRpcReply", 202: None},
        params=(
            Param(
                "MCP-Protocol-Version",
                {"enum": list(mcp_protocol.ALL_VERSIONS)},
                where="header",
                description="The revision in use (2026-07-28: also in params._meta, with "
                "Mcp-Method and Mcp-Name); absent means 2025-03-26.",
            ),
        ),
        raw_body={
            "description": "One JSON-RPC 2.0 message: a request, a notification or a "
            "response; an array of 1 to 20 of them is a batch (2025-03-26 only).",
            "anyOf": [
                _JSONRPC_MESSAGE,
                {"type": "array", "minItems": 1, "maxItems": 20, "items": _JSONRPC_MESSAGE},
            ],
        },
        own_errors={
            400: (
                "JsonRpcRefusal",
                "Not JSON (-32700), not a JSON-RPC message (-32600), a batch after "
                "2025-03-26, or an unsupported MCP-Protocol-Version (-32600)",
            ),
            403: ("JsonRpcRefusal", "An Origin header not in DOCKHAND_MCP_ALLOWED_ORIGINS"),
            404: ("JsonRpcRefusal", "2026-07-28 only: method not found (-32601)"),
            406: ("JsonRpcRefusal", "Accept excludes application/json"),
            415: ("JsonRpcRefusal", "Content-Type is not application/json"),
        },
        description="A request is answered 200 with its JSON-RPC response (errors about a "
        "well-formed request too, except that 2026-07-28 answers invalid params and header "
        "mismatches 400 and an unknown method 404); notifications and responses 202 with "
        "no body; a body that is not JSON or not a JSON-RPC message 400. Tools: rehydrate, "
        "list_threads, list_snapshots, get_notes, add_note (creator). See docs/mcp.md.",
    ),
    "GET /mcp": Operation(
        "No server-sent event stream: 405",
        {405: "JsonRpcRefusal"},
        description="The server is stateless and sends nothing unasked; POST instead.",
    ),
    "DELETE /mcp": Operation(
        "No session to end: 405",
        {405: "JsonRpcRefusal"},
        description="The server is stateless: it never issues an Mcp-Session-Id.",
    ),
    "POST /agents": Operation(
        "Register an agent (the secret is shown once)",
        {201: "AgentCreated"},
        body=agents.RegisterAgent,
        errors=(409,),
    ),
    "GET /agents": Operation("The tenant's agents", {200: "AgentPage"}, query=agents.AgentQuery),
    "GET /agents/{agent_id}": Operation(
        "One agent, with the work it holds as a worker", {200: "AgentDetail"}
    ),
    "DELETE /agents/{agent_id}": Operation(
        "Remove an agent: its heartbeats are refused from now on and its name is free again",
        {204: None},
    ),
    "GET /agents/{agent_id}/history": Operation(
        "The agent's status changes, newest first (kept 90 days)",
        {200: "AgentHistoryPage"},
        query=history.HistoryQuery,
    ),
    "POST /agents/{agent_id}/rotate-secret": Operation(
        "A new agent secret; the previous one is accepted for 10 more minutes",
        {200: "SecretRotated"},
        errors=(409,),
        description="409 when another rotation of the same agent happened at the same time.",
    ),
    "POST /agents/{agent_id}/heartbeat": Operation(
        "A signed heartbeat (no API key: the agent's HMAC signature authenticates it)",
        {200: "HeartbeatAccepted"},
        params=AGENT_SIGNATURE,
        body=heartbeats.HeartbeatFigures,
        errors=(401,),
        description="A timestamp more than 300 s off, a wrong signature or a replayed "
        "timestamp answer 401, and so does an unknown agent id.",
    ),
    "POST /agents/{agent_id}/lease": Operation(
        "Lease work as this agent (signed like a heartbeat; no API key)",
        {200: "Lease"},
        params=AGENT_SIGNATURE,
        body=work.AgentLeaseRequest,
        errors=(401, 404),
        description="As POST /inbox/lease on the named queue (default inbox); the items "
        "are held by the agent: its heartbeats extend the lease, and its death or "
        "deletion releases it at once. A dead or deleted agent, a bad signature or a "
        "signature used before answer 401; an unknown queue 404.",
    ),
    "POST /agents/{agent_id}/ack": Operation(
        "Acknowledge leased work, optionally with its outcome (signed)",
        {200: "AckResult"},
        params=AGENT_SIGNATURE,
        body=work.AgentAckRequest,
        errors=(401, 404),
        description="As POST /inbox/ack with a lease. With an outcome, each acknowledged "
        "event gets one job.succeeded or job.failed event in the tenant inbox (source "
        "dockhand.agents, payload event_id, event_type, queue, agent_id, name, attempts, "
        "result), exactly once however often the ack is retried.",
    ),
    "POST /agents/{agent_id}/release": Operation(
        "Give leased work back, optionally after a delay (signed)",
        {200: "ReleaseResult"},
        params=AGENT_SIGNATURE,
        body=work.AgentReleaseRequest,
        errors=(401, 404),
        description="As POST /inbox/release; attempts stay counted.",
    ),
    "GET /status": Operation("Liveness and version", {200: "Status"}),
    "GET /stats": Operation(
        "The tenant's figures for a day (today's are live), or for a range of days",
        {200: "StatsAnswer"},
        query=ranges.StatsQuery,
        errors=(404,),
        csv=True,
        description="`day` (default today) answers one day, 404 when it has no data; "
        "`from` and `to` (both included, at most 92 days) answer every day, zeros included, "
        "with totals; `format=csv` answers a header row and one row per day.",
    ),
    "GET /": Operation(
        "The operator's status page (one HTML document; it asks for an API key)",
        {200: "StatusPage"},
        query=status_handler.PageOptions,
        html=True,
    ),
    "GET /openapi.json": Operation("This document", {200: "OpenApiDocument"}),
    "POST /subscriptions": Operation(
        "Subscribe a URL to push delivery (the whsec_ secret is shown once)",
        {201: "SubscriptionCreated"},
        body=sub_inputs.NewSubscription,
        description="400 validation_error on `url` when the SSRF guard refuses it: https "
        "on port 443 or 8443 only, and the host must resolve only to public unicast "
        "addresses.",
    ),
    "GET /subscriptions": Operation(
        "The tenant's subscriptions",
        {200: "SubscriptionPage"},
        query=PageQuery,
    ),
    "GET /subscriptions/{subscription_id}": Operation(
        "One subscription (never its secret)", {200: "Subscription"}
    ),
    "PATCH /subscriptions/{subscription_id}": Operation(
        "Change a subscription's url, filters, description, headers or rate limit "
        "(the secret stays)",
        {200: "Subscription"},
        body=sub_inputs.SubscriptionChange,
        description="Only the fields given change; `null` clears an optional one and `{}` "
        "changes nothing (JSON merge patch). `headers` replaces the whole set. A new `url` "
        "passes the SSRF guard again (400 validation_error on `url`).",
    ),
    "DELETE /subscriptions/{subscription_id}": Operation("Delete a subscription", {204: None}),
    "POST /subscriptions/{subscription_id}/pause": Operation(
        "Pause: nothing is sent until enable (idempotent; `paused_at` stays the first pause)",
        {200: "Subscription"},
    ),
    "POST /subscriptions/{subscription_id}/enable": Operation(
        "Resume a paused subscription or re-enable a disabled one, sending what matched meanwhile",
        {200: "Subscription"},
        body=sub_inputs.EnableRequest,
        optional_body=True,
        description="The body is optional. By default the retained events that matched "
        "while the subscription was paused or disabled are sent, oldest first, each with "
        'its original webhook-id; `{"recover": false}` skips them.',
    ),
    "POST /subscriptions/{subscription_id}/rotate-secret": Operation(
        "A new signing secret; the old one keeps signing alongside for 24 h",
        {200: "SubscriptionSecretRotated"},
    ),
    "GET /subscriptions/{subscription_id}/deliveries": Operation(
        "Delivery attempts, newest first",
        {200: "DeliveryPage"},
        query=PageQuery,
    ),
    "POST /subscriptions/{subscription_id}/replay": Operation(
        "Re-send the retained events of a time window (202: sent in the background)",
        {202: "ReplayAccepted"},
        body=subs.ReplayRequest,
        errors=(409,),
        description="Paced at the subscription's rate limit; 409 while another replay of "
        "the same subscription runs.",
    ),
    "POST /subscriptions/{subscription_id}/test": Operation(
        "Send a signed test delivery (type webhook.test) now and answer what the receiver did",
        {200: "TestSendResult"},
        description="Synchronous, whatever the status; the synthetic event is not stored "
        "and not in the inbox; the attempt is in the deliveries log with trigger `test`.",
    ),
    "POST /subscriptions/{subscription_id}/resend": Operation(
        "Send one retained event again with its original webhook-id (202: queued)",
        {202: "ResendAccepted"},
        body=sub_inputs.ResendRequest,
        errors=(409,),
        description="404 for an event this subscription never matched (another type, "
        "received before the subscription, or no longer retained); 409 while the "
        "subscription is paused or disabled.",
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
    if op.body is not None or op.raw_body is not None:
        statuses |= {400, 413, 415}
    statuses |= set(op.own_errors)
    if op.params or op.query or _path_params(path):
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


def _responses(route: Route, op: Operation, path: str) -> Schema:
    responses: Schema = {}
    for status, schema_name in sorted(op.ok.items()):
        response: Schema = {"description": schema_name or "No content"}
        estimate = ("X-Token-Estimate",) if op.markdown and status == 200 else ()
        response["headers"] = _headers("X-Request-ID", *estimate)
        if schema_name is not None and op.html:
            response["content"] = {HTML: {"schema": {"type": "string"}}}
        elif schema_name is not None:
            response["content"] = {JSON: {"schema": ref(schema_name)}}
            if op.markdown and status == 200:
                response["content"][MARKDOWN] = {"schema": {"type": "string"}}
            if op.csv and status == 200:
                response["content"][CSV] = {"schema": {"type": "string"}}
        responses[str(status)] = response
    for status in _error_statuses(route, op, path):
        if status in op.own_errors:
            schema_name, description = op.own_errors[status]
            responses[str(status)] = {
                "description": description,
                "headers": _headers("X-Request-ID"),
                "content": {JSON: {"schema": ref(schema_name)}},
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
            "content": {JSON: {"schema": ref("Error")}},
        }
    return shared


def _parameters(op: Operation, path: str) -> list[Schema]:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_params(path)
    ]
    parameters += _query_parameters(op.query) if op.query else []
    for param in op.params:
        entry: Schema = {"name": param.name, "in": param.where, "schema": param.schema}
        if param.required:
            entry["required"] = True
        if param.description:
            entry["description"] = param.description
        parameters.append(entry)
    return parameters


def _query_parameters(model: type[QueryModel]) -> list[Schema]:
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


def _view(view: type, components: dict[str, Schema]) -> Schema:
    """A TypedDict view's schema; nested views become components of their own."""
    schema = TypeAdapter(view).json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    return schema


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
        operation["requestBody"]["required"] = not op.optional_body
    if op.raw_body is not None:
        operation["requestBody"] = {
            "required": True,
            "description": f"At most {route.max_body} bytes.",
            "content": {JSON: {"schema": op.raw_body}},
        }
    return operation


def build_document(routes: Mapping[str, Route] | None = None) -> Schema:
    routes = route_table() if routes is None else routes
    missing = sorted(set(routes) - set(OPERATIONS))
    extra = sorted(set(OPERATIONS) - set(routes))
    if missing or extra:
        raise ValueError(
            f"OPERATIONS out of step with the routes: missing {missing}, extra {extra}"
        )
    components: dict[str, Schema] = {}
    for name, schema in RESPONSE_SCHEMAS.items():
        _add_component(
            components, name, schema if isinstance(schema, dict) else _view(schema, components)
        )
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
            "Generated by tools/gen/openapi.py from the handlers' route tables and "
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
        if OPERATIONS[route_key].body is not None:
            body = "{}"
            headers |= {"content-type": "application/json", "content-length": "2"}
        event = apigw.build_event(
            method, concrete, route_key=route_key, path_params=params, headers=headers, body=body
        )
        target = events_dir / sample_name(route_key)
        target.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    from tools.gen import apidoc

    document = build_document()
    api_md = apidoc.API_MD.read_text("utf-8") if apidoc.API_MD.exists() else ""
    outputs = {DOCUMENT_PATH: render(document), apidoc.API_MD: apidoc.render(document, api_md)}
    for path, text in outputs.items():
        current = path.read_text("utf-8") if path.exists() else ""
        if args.check:
            if current != text:
                print(f"{path} is stale: run `make openapi`", file=sys.stderr)
                return 1
            continue
        if current != text:
            path.write_text(text, "utf-8")
        print(f"wrote {path}")
    if args.check:
        return 0
    for sample in write_missing_samples(EVENTS_DIR):
        print(f"wrote {sample} (a starter sample event for make invoke: edit its body)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
