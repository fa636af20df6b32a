"""Injected AWS faults on every write path, in one table.

Each case: set up the data a write needs, snapshot every table (the keys table
aside: rate-limit windows move on every request) and every S3 object version,
make the AWS write calls of the path fail through a botocore `before-call` hook,
send the request, then check what a client and an operator would see:

- the client got 503 `service_unavailable` with `Retry-After` (a scheduled function
  raised instead, so EventBridge retries);
- stored state is exactly as before: no event without its dedup record or the
  reverse, no snapshot metadata without its object, no orphan object after a
  failed metadata write, no counter moved (deletions that mark first are instead
  shown to finish on the retry);
- with the fault gone, the same request succeeds as a first attempt would (a
  duplicate flag or a 409 would mean something was left behind).

The areas' own test files hold the path-specific fault tests; this is the
systematic sweep over all of them (docs/reliability.md has the table).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws as clients
from tests.conftest import ApiClient, Keys, Result
from tests.unit.agents_support import heartbeat, register

DDB_WRITES = ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
S3_WRITES = ("PutObject", "DeleteObject", "DeleteObjects")


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    name: str
    service: str
    operations: tuple[str, ...]
    make: Callable[[str], Exception]


def _client_error(code: str, status: int, **extra: Any) -> Callable[[str], Exception]:
    def make(operation: str) -> Exception:
        response = {
            "Error": {"Code": code, "Message": "injected fault"},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **extra,
        }
        return ClientError(response, operation)  # type: ignore[arg-type]

    return make


def _connection_error(operation: str) -> Exception:
    return EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")


DDB_FAULTS = (
    Fault(
        "ProvisionedThroughputExceeded",
        "dynamodb",
        DDB_WRITES,
        _client_error("ProvisionedThroughputExceededException", 400),
    ),
    Fault("Throttling", "dynamodb", DDB_WRITES, _client_error("ThrottlingException", 400)),
    Fault(
        "TransactionCanceled[ThrottlingError]",
        "dynamodb",
        ("TransactWriteItems",),
        _client_error(
            "TransactionCanceledException",
            400,
            CancellationReasons=[{"Code": "ThrottlingError"}, {"Code": "None"}],
        ),
    ),
)
S3_FAULTS = (
    Fault("SlowDown", "s3", S3_WRITES, _client_error("SlowDown", 503)),
    Fault("InternalError", "s3", S3_WRITES, _client_error("InternalError", 500)),
    Fault("ConnectionError", "s3", S3_WRITES, _connection_error),
)


@pytest.fixture
def inject(aws: None) -> Iterator[Callable[[Fault], Callable[[], int]]]:
    """Make `fault` happen on its operations; returns a function that removes it and
    says how many calls it failed.  Calls about the keys table pass: the rate limiter
    writes there on every request, and that is not the path under test."""
    registered: list[tuple[Any, str, Callable[..., None]]] = []

    def install(fault: Fault) -> Callable[[], int]:
        client = clients.client(fault.service)
        keys_table = settings().keys_table.encode()
        failed = [0]

        def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
            body = params.get("body")
            if isinstance(body, bytes) and keys_table in body:
                return
            failed[0] += 1
            raise fault.make(model.name)

        for operation in fault.operations:
            event = f"before-call.{fault.service}.{operation}"
            client.meta.events.register(event, hook)
            registered.append((client, event, hook))

        def remove() -> int:
            while registered:
                owner, name, handler = registered.pop()
                owner.meta.events.unregister(name, handler)
            return failed[0]

        return remove

    yield install
    for client, event, hook in registered:
        client.meta.events.unregister(event, hook)


# --------------------------------------------------------------------------- stored state


def stored_state() -> dict[str, Any]:
    """Every item of every data table and every S3 object version / delete marker."""
    ddb, cfg = clients.dynamodb(), settings()
    state: dict[str, Any] = {}
    for table in (cfg.events_table, cfg.context_table, cfg.agents_table, cfg.stats_table):
        items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        state[table] = sorted(json.dumps(item, sort_keys=True) for item in items)
    versions = clients.s3().list_object_versions(Bucket=cfg.snapshots_bucket)
    state["s3"] = sorted(
        (entry["Key"], entry.get("VersionId"), kind)
        for kind in ("Versions", "DeleteMarkers")
        for entry in versions.get(kind, [])
    )
    return state


def object_versions() -> list[Any]:
    return list(stored_state()["s3"])


# --------------------------------------------------------------------------- write paths

Setup = Callable[[ApiClient, str], dict[str, Any]]
Send = Callable[[ApiClient, str, dict[str, Any]], Result]


@dataclass(frozen=True)
class WritePath:
    name: str
    setup: Setup
    send: Send
    ok: int
    uses_s3: bool = False
    uses_transactions: bool = True  # else a TransactionCanceled fault cannot happen
    # Deletions mark first, then remove: a fault after the mark leaves the mark, and
    # the retry finishes.  For those, "after" is checked instead of "unchanged".
    finished: Callable[[dict[str, Any]], None] | None = None


def _nothing(api: ApiClient, key: str) -> dict[str, Any]:
    return {}


def _event(api: ApiClient, key: str) -> dict[str, Any]:
    body = {"event_type": "order.created", "payload": {"id": 1}}
    return {"event_id": api.post("/events", key=key, json_body=body).json["event_id"]}


def _note(api: ApiClient, key: str) -> dict[str, Any]:
    note = api.post("/notes", key=key, json_body={"thread_id": "th", "text": "a note"})
    return {"note_id": note.json["note_id"]}


def _snapshot(api: ApiClient, key: str) -> dict[str, Any]:
    _note(api, key)
    body = {"thread": {"id": "th", "goal": "ship"}, "decisions": ["keep it small"]}
    return {"snapshot_id": api.post("/hydrate", key=key, json_body=body).json["snapshot_id"]}


def _agent(api: ApiClient, key: str) -> dict[str, Any]:
    return register(api, key, name="runner-1")


def _snapshot_gone(ctx: dict[str, Any]) -> None:
    state = stored_state()
    assert not any(ctx["snapshot_id"] in item for item in state[settings().context_table])
    assert state["s3"] == []


def _thread_gone(ctx: dict[str, Any]) -> None:
    state = stored_state()
    assert not any('"T#acme#' in item for item in state[settings().context_table])
    assert state["s3"] == []


WRITE_PATHS = (
    WritePath(
        "POST /events",
        _nothing,
        lambda api, k, _: api.post(
            "/events", key=k, json_body={"event_type": "order.created", "payload": {"id": 2}}
        ),
        201,
    ),
    WritePath(
        "DELETE /events/{id}",
        _event,
        lambda api, k, ctx: api.delete(f"/events/{ctx['event_id']}", key=k),
        204,
    ),
    WritePath(
        "POST /inbox/ack",
        _event,
        lambda api, k, ctx: api.post(
            "/inbox/ack", key=k, json_body={"event_ids": [ctx["event_id"]]}
        ),
        200,
    ),
    WritePath(
        "POST /notes",
        _nothing,
        lambda api, k, _: api.post("/notes", key=k, json_body={"thread_id": "th", "text": "x"}),
        201,
    ),
    WritePath(
        "DELETE /notes/{id}",
        _note,
        lambda api, k, ctx: api.delete(f"/notes/{ctx['note_id']}", key=k),
        204,
    ),
    WritePath(
        "POST /hydrate",
        _note,
        lambda api, k, _: api.post("/hydrate", key=k, json_body={"thread": {"id": "th"}}),
        201,
        uses_s3=True,
    ),
    WritePath(
        "DELETE /snapshots/{id}",
        _snapshot,
        lambda api, k, ctx: api.delete(f"/snapshots/{ctx['snapshot_id']}", key=k),
        204,
        uses_s3=True,
        finished=_snapshot_gone,
    ),
    WritePath(
        "DELETE /threads/{id}",
        _snapshot,
        lambda api, k, _: api.delete("/threads/th", key=k),
        204,
        uses_s3=True,
        uses_transactions=False,  # conditional updates and batches
        finished=_thread_gone,
    ),
    WritePath(
        "POST /agents",
        _nothing,
        lambda api, k, _: api.post("/agents", key=k, json_body={"name": "runner-2"}),
        201,
    ),
    WritePath(
        "POST /agents/{id}/heartbeat",
        _agent,
        lambda api, k, ctx: heartbeat(api, ctx),
        200,
    ),
)

CASES = [
    pytest.param(path, fault, id=f"{path.name} x {fault.name}")
    for path in WRITE_PATHS
    for fault in (*DDB_FAULTS, *(S3_FAULTS if path.uses_s3 else ()))
    if path.uses_transactions or fault.operations != ("TransactWriteItems",)
]


@pytest.mark.parametrize(("path", "fault"), CASES)
def test_write_path_under_fault(
    api: ApiClient,
    keys: Keys,
    inject: Callable[[Fault], Callable[[], int]],
    path: WritePath,
    fault: Fault,
) -> None:
    ctx = path.setup(api, keys.creator)
    before = stored_state()

    remove = inject(fault)
    result = path.send(api, keys.creator, ctx)
    failed_calls = remove()

    assert failed_calls >= 1, "the fault never fired: the case tests nothing"
    assert result.status == 503, result.text
    assert result.error_code == "service_unavailable"
    assert int(result.headers["Retry-After"]) >= 1
    assert "injected" not in result.text  # no AWS error text leaks

    if path.finished is None or stored_state() == before:
        assert stored_state() == before, "a failed write left something behind"
        retry = path.send(api, keys.creator, ctx)
        assert retry.status == path.ok, retry.text
        if path.name == "POST /events":
            assert retry.json["duplicate"] is False  # no dedup record was left
    else:
        # The mark committed before the fault: the retry finishes the deletion (204,
        # or 404 for a snapshot whose metadata the mark already hid).
        retry = path.send(api, keys.creator, ctx)
        assert retry.status in (path.ok, 404), retry.text
        path.finished(ctx)


# --------------------------------------------------------------------------- scheduled


def _rollup_with_data(api: ApiClient, key: str) -> None:
    yesterday = clock.now() - 86_400
    clock.set_clock(lambda: yesterday)
    api.post("/events", key=key, json_body={"event_type": "t", "payload": {}})
    clock.set_clock(None)


@pytest.mark.parametrize("fault", DDB_FAULTS[:2], ids=lambda f: f.name)
def test_rollup_raises_for_an_eventbridge_retry_and_writes_nothing(
    api: ApiClient,
    keys: Keys,
    inject: Callable[[Fault], Callable[[], int]],
    fault: Fault,
) -> None:
    from handlers import rollup

    _rollup_with_data(api, keys.creator)
    before = stored_state()
    remove = inject(fault)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure must reach EventBridge
        rollup.handler({}, None)
    assert remove() >= 1
    assert stored_state() == before
    summary = rollup.handler({}, None)  # the retry
    assert summary["tenants"] == 1


# The sweeper's transitions are conditional UpdateItems, no transactions.
@pytest.mark.parametrize("fault", DDB_FAULTS[:2], ids=lambda f: f.name)
def test_sweeper_raises_for_an_eventbridge_retry_and_changes_no_agent(
    api: ApiClient,
    keys: Keys,
    inject: Callable[[Fault], Callable[[], int]],
    fault: Fault,
) -> None:
    from handlers import sweeper

    agent = register(api, keys.creator, name="quiet-1")
    later = clock.now() + 4 * settings().heartbeat_interval_seconds
    clock.set_clock(lambda: later)
    before = stored_state()
    remove = inject(fault)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure must reach EventBridge
        sweeper.handler({}, None)
    assert remove() >= 1
    assert stored_state() == before
    summary = sweeper.handler({}, None)  # the retry
    assert summary["marked_unhealthy"] == 1
    status = api.get(f"/agents/{agent['agent_id']}", key=keys.viewer).json["status"]
    assert status == "unhealthy"


# --------------------------------------------------------------------------- transient conflicts


def _conflict_once(aws: None) -> Callable[[], int]:
    """A TransactionConflict on the first TransactWriteItems only (another writer in flight)."""
    client = clients.client("dynamodb")
    keys_table = settings().keys_table.encode()
    failed = [0]
    make = _client_error(
        "TransactionCanceledException",
        400,
        CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
    )

    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body")
        if failed[0] or (isinstance(body, bytes) and keys_table in body):
            return
        failed[0] += 1
        raise make(model.name)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", hook)

    def remove() -> int:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", hook)
        return failed[0]

    return remove


@pytest.mark.parametrize(
    "path", [p for p in WRITE_PATHS if p.uses_transactions], ids=lambda p: p.name
)
def test_a_transient_transaction_conflict_is_retried_on_every_write_path(
    api: ApiClient, keys: Keys, aws: None, path: WritePath
) -> None:
    """Every transaction goes through the one runner: a conflict is retried, not a 503."""
    ctx = path.setup(api, keys.creator)
    remove = _conflict_once(aws)
    result = path.send(api, keys.creator, ctx)
    assert remove() == 1, "the conflict never fired: the case tests nothing"
    assert result.status == path.ok, result.text
