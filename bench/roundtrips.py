"""AWS round trips per request, route by route, next to the fewest possible.

Counted on a warm container with the key already cached (a cache miss adds one
GetItem for the key, plus bcrypt). The rate limiter leases tokens in batches (see
common/access/ratelimit.py), so it costs one UpdateItem per lease, not per request: the
harness leases before counting, and the minimums count data calls only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import world
from bench.awscalls import recording
from bench.snapshots import hydrate_body

# route → (fewest AWS calls, why). Data, so the table and the docs can't drift.
MINIMUMS: dict[str, tuple[int, str]] = {
    "POST /events": (1, "one TransactWriteItems (event + dedup guard + day counter)"),
    "GET /events/{event_id}": (1, "one GetItem"),
    "DELETE /events/{event_id}": (
        1,
        "one transaction (mark delivered, drop inbox keys, counter)",
    ),
    "GET /inbox": (1, "one Query on the sparse inbox index (per shard)"),
    "POST /inbox/ack": (1, "one TransactWriteItems when all ids exist (≤ 96 ids)"),
    "POST /inbox/lease": (
        2,
        "one Query of the lease index (gsi3sk <= now, Limit = limit) per shard + one "
        "TransactWriteItems (conditional claims + lease record + counter); the claims "
        "must be conditional writes and the counter must share their transaction, and "
        "nothing else reads. An empty lease is the Query alone",
    ),
    "POST /inbox/ack (lease_id + event_ids)": (
        1,
        "one TransactWriteItems; the lease id is signed (HMAC of tenant and ULID), so an "
        "unknown or foreign id is refused without reading",
    ),
    "POST /inbox/ack (lease_id: all of it)": (
        2,
        "GetItem of the lease record (which ids) + one TransactWriteItems",
    ),
    "POST /inbox/release": (
        2,
        "GetItem of the lease record + one TransactWriteItems (1 with event_ids); a last "
        "attempt's quarantine is one more transaction (its condition differs)",
    ),
    "GET /inbox/quarantine": (1, "one Query of the quarantine index (gsi5) per shard"),
    "POST /inbox/quarantine/requeue": (
        1,
        "one TransactWriteItems (the inbox keys are copied from the item itself)",
    ),
    "POST /notes": (1, "one transaction (note + thread activity + counter)"),
    "GET /notes": (1, "one Query on the thread's notes index"),
    "GET /notes/{note_id}": (1, "one GetItem"),
    "DELETE /notes/{note_id}": (1, "one conditional DeleteItem"),
    "POST /hydrate": (
        3,
        "Query notes to freeze + S3 PutObject + transaction (meta + counter)",
    ),
    "GET /snapshots": (1, "one Query on the thread's snapshots index"),
    "GET /snapshots/{snapshot_id}": (1, "one GetItem"),
    "GET /rehydrate/{snapshot_id}": (
        2,
        "GetItem (meta with the SHA-256 to check) + S3 GetObject",
    ),
    "GET /rehydrate": (2, "Query newest snapshot of the thread + S3 GetObject"),
    "POST /agents": (1, "one transaction (agent + name claim)"),
    "GET /agents": (1, "one Query on the tenant's agents index"),
    "GET /agents/{agent_id}": (1, "one GetItem"),
    "POST /agents/{agent_id}/heartbeat": (
        2,
        "GetItem (secret generation, interval, status) + one conditional transaction; no key",
    ),
    "GET /status": (0, "answers from configuration"),
    "GET /stats": (1, "one BatchGetItem of the day's counter shards, or GetItem of a rollup"),
}

Step = Callable[[str, dict[str, str]], dict[str, Any]]


def _remember(ids: dict[str, str], response: dict[str, Any], field: str) -> dict[str, Any]:
    if response["statusCode"] < 300:
        ids[field] = str(world.body_of(response)[field])
    return response


THREAD = "rt-thread"


def _steps() -> list[tuple[str, Step]]:
    """One request per route, in an order where each finds what it needs."""
    return [*_event_steps(), *_inbox_steps(), *_context_steps(), *_agent_steps()]


def _get(path: str, **query: str) -> Step:
    """GET `path` with the ids found so far filled in (a missing one: KeyError)."""
    return lambda k, ids: world.call("GET", path.format(**ids), key=k, query=query or None)


def _delete(path: str) -> Step:
    return lambda k, ids: world.call("DELETE", path.format(**ids), key=k)


def _event_steps() -> list[tuple[str, Step]]:
    return [
        (
            "POST /events",
            lambda k, ids: _remember(
                ids,
                world.call("POST", "/events", key=k, json_body={"event_type": "rt", "payload": {}}),
                "event_id",
            ),
        ),
        ("GET /events/{event_id}", _get("/events/{event_id}")),
        ("GET /inbox", _get("/inbox")),
    ]


def _inbox_steps() -> list[tuple[str, Step]]:
    def post(path: str, body: Callable[[dict[str, str]], dict[str, Any]]) -> Step:
        return lambda k, ids: world.call("POST", path, key=k, json_body=body(ids))

    return [
        ("POST /inbox/lease", _lease),
        ("POST /inbox/release", post("/inbox/release", lambda ids: {"lease_id": ids["lease_id"]})),
        ("POST /inbox/lease", _lease),
        (
            "POST /inbox/ack (lease_id + event_ids)",
            post(
                "/inbox/ack",
                lambda ids: {"lease_id": ids["lease_id"], "event_ids": [ids["event_id"]]},
            ),
        ),
        (
            "POST /inbox/ack (lease_id: all of it)",
            post("/inbox/ack", lambda ids: {"lease_id": ids["lease_id"]}),
        ),
        ("GET /inbox/quarantine", _get("/inbox/quarantine")),
        (
            "POST /inbox/quarantine/requeue",
            post("/inbox/quarantine/requeue", lambda ids: {"event_ids": [ids["event_id"]]}),
        ),
        ("POST /inbox/ack", post("/inbox/ack", lambda ids: {"event_ids": [ids["event_id"]]})),
        ("DELETE /events/{event_id}", _delete("/events/{event_id}")),
    ]


def _context_steps() -> list[tuple[str, Step]]:
    return [
        (
            "POST /notes",
            lambda k, ids: _remember(
                ids,
                world.call("POST", "/notes", key=k, json_body={"thread_id": THREAD, "text": "x"}),
                "note_id",
            ),
        ),
        ("GET /notes", _get("/notes", thread_id=THREAD)),
        ("GET /notes/{note_id}", _get("/notes/{note_id}")),
        (
            "POST /hydrate",
            lambda k, ids: _remember(
                ids,
                world.call("POST", "/hydrate", key=k, json_body=hydrate_body(50, THREAD)),
                "snapshot_id",
            ),
        ),
        ("GET /snapshots", _get("/snapshots", thread_id=THREAD)),
        ("GET /snapshots/{snapshot_id}", _get("/snapshots/{snapshot_id}")),
        ("GET /rehydrate/{snapshot_id}", _get("/rehydrate/{snapshot_id}")),
        ("GET /rehydrate", _get("/rehydrate", thread_id=THREAD)),
        ("DELETE /notes/{note_id}", _delete("/notes/{note_id}")),
    ]


def _agent_steps() -> list[tuple[str, Step]]:
    return [
        ("POST /agents", lambda k, ids: _remember(ids, _register_agent(k, ids), "agent_id")),
        ("GET /agents", _get("/agents")),
        ("GET /agents/{agent_id}", _get("/agents/{agent_id}")),
        ("POST /agents/{agent_id}/heartbeat", _heartbeat),
        ("GET /status", lambda k, ids: world.call("GET", "/status")),
        ("GET /stats", lambda k, ids: world.call("GET", "/stats", key=k, query={"day": _today()})),
    ]


def _lease(key: str, ids: dict[str, str]) -> dict[str, Any]:
    response = world.call("POST", "/inbox/lease", key=key, json_body={"limit": 1})
    if response["statusCode"] < 300:
        ids["lease_id"] = str(world.body_of(response)["lease_id"])
    return response


def _today() -> str:
    from common.runtime import clock

    return clock.day_of(clock.now())


def _register_agent(key: str, ids: dict[str, str]) -> dict[str, Any]:
    response = world.call("POST", "/agents", key=key, json_body={"name": "rt-agent"})
    if response["statusCode"] < 300:
        ids["agent_secret"] = str(world.body_of(response)["secret"])
    return response


def _heartbeat(_: str, ids: dict[str, str]) -> dict[str, Any]:
    handler = world.handler_for("heartbeat")
    event = world.heartbeat_event(ids["agent_id"], ids["agent_secret"])
    response: dict[str, Any] = handler(event, world.CONTEXT)
    return response


def measure() -> dict[str, Any]:
    rows: dict[str, Any] = {}
    ids: dict[str, str] = {}
    with world.aws_world() as key, recording() as recorder:
        for route, step in _steps():
            minimum, reason = MINIMUMS[route]
            recorder.reset()
            try:
                response = step(key, ids)
            except (world.NotAvailable, KeyError) as missing:
                rows[route] = {"available": False, "note": f"not available yet ({missing})"}
                continue
            except Exception as exc:  # a handler mid-construction must not stop the run
                rows[route] = {"available": False, "note": f"error: {exc!r}"[:300]}
                continue
            rows[route] = {
                "available": True,
                "status": response["statusCode"],
                "calls": recorder.total_calls,
                "by_operation": dict(sorted(recorder.calls.items())),
                "minimum": minimum,
                "minimum_reason": reason,
            }
    return {"note": "warm container, cached key; a key-cache miss adds 1 GetItem", "routes": rows}
