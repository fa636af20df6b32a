"""Notes on a work thread, and the thread item every note and snapshot write keeps current.

Items in the context table (see docs/conventions.md):
- note:   pk `T#<tenant>#N#<note_id>` / sk `N`; gsi1 `T#<tenant>#TH#<thread>#N` / `<note_id>`
          (a thread's notes, oldest first); gsi2 `T#<tenant>#TH#<thread>#NK#<kind>` /
          `<note_id>` (a thread's notes of one kind, so `?kind=` is a Query, not a filter).
- thread: pk `T#<tenant>#TH#<thread>` / sk `TH`; gsi2 `T#<tenant>#THREADS` /
          `<last_activity_iso>#<thread>` (threads by last activity, for `GET /threads`).

Every note write is one TransactWriteItems: the note, the thread item and the day counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound, field_error
from common.runtime.slug import SLUG_MESSAGE, Slug, is_slug
from common.store import aws, counters, cursor, ddb
from common.store.aws import aws_error_code
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK

NoteKind = Literal["note", "decision", "question", "todo"]
NOTE_KINDS: tuple[str, ...] = ("note", "decision", "question", "todo")
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# The most notes a snapshot freezes: bounds the hydrate request's DynamoDB reads.
MAX_FROZEN_NOTES = 2000


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    line: Annotated[int, Field(ge=1)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    thread_id: Slug
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    kind: NoteKind = "note"
    source: SourceRef | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)


def valid_slug(value: str) -> bool:
    return is_slug(value)


# --- keys -------------------------------------------------------------------------------


def note_pk(tenant: str, note_id: str) -> str:
    return f"T#{tenant}#N#{note_id}"


def thread_notes_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#N"


def thread_kind_pk(tenant: str, thread_id: str, kind: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#NK#{kind}"


def thread_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}"


def threads_index_pk(tenant: str) -> str:
    return f"T#{tenant}#THREADS"


# --- the thread item --------------------------------------------------------------------


def thread_update_item(
    tenant: str,
    thread_id: str,
    moment: float,
    *,
    notes_delta: int = 0,
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A TransactWriteItems `Update` keeping the thread item current.

    Creates the thread on first use; bumps `last_activity` (and its gsi2 sort key) on
    every write; adds `notes_delta` to notes_count; a snapshot sets goal, persona and the
    newest snapshot id/time and adds one to snapshots_count.
    """
    now_iso = clock.iso(moment)
    names = {
        "#tenant": "tenant",
        "#thread": "thread_id",
        "#created": "created_at",
        "#last": "last_activity",
        "#g2pk": GSI2_PK,
        "#g2sk": GSI2_SK,
        "#notes": "notes_count",
        "#snaps": "snapshots_count",
    }
    values: dict[str, Any] = {
        ":tenant": ddb.value(tenant),
        ":thread": ddb.value(thread_id),
        ":now": ddb.value(now_iso),
        ":g2pk": ddb.value(threads_index_pk(tenant)),
        ":g2sk": ddb.value(f"{now_iso}#{thread_id}"),
        ":notes": ddb.value(notes_delta),
        ":snaps": ddb.value(1 if snapshot else 0),
    }
    sets = [
        "#tenant = :tenant",
        "#thread = :thread",
        "#created = if_not_exists(#created, :now)",
        "#last = :now",
        "#g2pk = :g2pk",
        "#g2sk = :g2sk",
    ]
    if snapshot is not None:
        for index, (field, value) in enumerate(sorted(snapshot.items())):
            names[f"#s{index}"] = field
            values[f":s{index}"] = ddb.value(value)
            sets.append(f"#s{index} = :s{index}")
    return {
        "Update": {
            "TableName": settings().context_table,
            "Key": ddb.serialize({PK: thread_pk(tenant, thread_id), SK: "TH"}),
            "UpdateExpression": "SET " + ", ".join(sets) + " ADD #notes :notes, #snaps :snaps",
            # No writes into a thread that is being deleted (409; see common/threads.py).
            "ConditionExpression": "attribute_not_exists(#deleting)",
            "ExpressionAttributeNames": {**names, "#deleting": "deleting_at"},
            "ExpressionAttributeValues": values,
        }
    }


def get_context_item(pk: str, sk: str) -> dict[str, Any] | None:
    """One context-table item (a note, snapshot meta or thread), read consistently, or None."""
    result = aws.dynamodb().get_item(
        TableName=settings().context_table,
        Key=ddb.serialize({PK: pk, SK: sk}),
        ConsistentRead=True,
    )
    raw = result.get("Item")
    return ddb.deserialize(raw) if raw else None


def get_thread(tenant: str, thread_id: str) -> dict[str, Any] | None:
    """The thread item (goal, persona, counts, newest snapshot), or None."""
    return get_context_item(thread_pk(tenant, thread_id), "TH")


def thread_deleting(tenant: str, thread_id: str) -> bool:
    """True while DELETE /threads is removing the thread: its data is then invisible."""
    thread = get_thread(tenant, thread_id)
    return thread is not None and "deleting_at" in thread


THREAD_DELETING = "This thread is being deleted; try again when the deletion has finished."


# --- notes ------------------------------------------------------------------------------


def public_note(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "note_id": item["note_id"],
        "thread_id": item["thread_id"],
        "kind": item["kind"],
        "text": item["text"],
        "source": item.get("source"),
        "tags": list(item.get("tags") or []),
        "created_at": item["created_at"],
    }


def put_in_thread(
    tenant: str,
    thread_id: str,
    item: dict[str, Any],
    moment: float,
    *,
    counter: str,
    notes_delta: int = 0,
    snapshot: dict[str, Any] | None = None,
) -> None:
    """Store a new note or snapshot item in one transaction with its thread's update
    and the day counter; 409 while the thread is being deleted."""
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings().context_table,
                        "Item": ddb.serialize(item),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": PK},
                    }
                },
                thread_update_item(
                    tenant, thread_id, moment, notes_delta=notes_delta, snapshot=snapshot
                ),
                counters.update_item(tenant, {counter: 1}, moment),
            ]
        )
    except Exception as exc:
        if condition_failed(exc):  # the item id is fresh: only the thread's can fail
            raise Conflict(THREAD_DELETING) from None
        raise


def create_note(tenant: str, note: NoteIn) -> dict[str, Any]:
    moment = clock.now()
    note_id = ids.new_id()
    item = {
        PK: note_pk(tenant, note_id),
        SK: "N",
        GSI1_PK: thread_notes_pk(tenant, note.thread_id),
        GSI1_SK: note_id,
        GSI2_PK: thread_kind_pk(tenant, note.thread_id, note.kind),
        GSI2_SK: note_id,
        "tenant": tenant,
        "note_id": note_id,
        "thread_id": note.thread_id,
        "kind": note.kind,
        "text": note.text,
        "source": note.source.model_dump() if note.source else None,
        "tags": list(note.tags),
        "created_at": clock.iso(moment),
    }
    put_in_thread(tenant, note.thread_id, item, moment, counter="notes_created", notes_delta=1)
    catalogue.count("notes_created")
    return public_note(item)


def get_note(tenant: str, note_id: str) -> dict[str, Any]:
    """The note, or 404 for an unknown id and for another tenant's id alike."""
    if not ids.is_valid_id(note_id):
        raise NotFound("No such note.")
    item = get_context_item(note_pk(tenant, note_id), "N")
    if item is None or thread_deleting(tenant, str(item["thread_id"])):
        raise NotFound("No such note.")
    return item


def delete_note(tenant: str, note_id: str) -> None:
    """Delete the note and decrement its thread's count; a concurrent delete gets 404."""
    item = get_note(tenant, note_id)
    moment = clock.now()
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": settings().context_table,
                        "Key": ddb.serialize({PK: note_pk(tenant, note_id), SK: "N"}),
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": PK},
                    }
                },
                thread_update_item(tenant, str(item["thread_id"]), moment, notes_delta=-1),
            ]
        )
    except Exception as exc:
        if condition_failed(exc):
            raise NotFound("No such note.") from None
        raise


def condition_failed(exc: BaseException) -> bool:
    """A TransactWriteItems cancelled because a condition did not hold."""
    if aws_error_code(exc) != "TransactionCanceledException":
        return False
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def list_notes(
    tenant: str,
    thread_id: str,
    kind: str | None,
    limit: int,
    token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a thread's notes, oldest first: a single Query on gsi1 (or gsi2 by kind)."""
    query = {"route": "notes", "thread_id": thread_id, "kind": kind}
    # Decoded first: a bad cursor is a 400 whatever the thread.
    position = cursor.decode(token, tenant, query) if token else None
    if thread_deleting(tenant, thread_id):
        return [], None
    kwargs = _thread_notes_query(tenant, thread_id, kind)
    kwargs["Limit"] = limit
    if position is not None:
        kwargs["ExclusiveStartKey"] = ddb.serialize(position)
    result = aws.dynamodb().query(**kwargs)
    items = [public_note(ddb.deserialize(raw)) for raw in result.get("Items", [])]
    last = result.get("LastEvaluatedKey")
    next_token = cursor.encode(tenant, query, ddb.deserialize(last)) if last else None
    return items, next_token


def _thread_notes_query(tenant: str, thread_id: str, kind: str | None) -> dict[str, Any]:
    if kind is not None:
        index, pk_name, pk_value = GSI2, GSI2_PK, thread_kind_pk(tenant, thread_id, kind)
    else:
        index, pk_name, pk_value = GSI1, GSI1_PK, thread_notes_pk(tenant, thread_id)
    return {
        "TableName": settings().context_table,
        "IndexName": index,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk_name},
        "ExpressionAttributeValues": {":pk": ddb.value(pk_value)},
        "ScanIndexForward": True,
    }


def iter_thread_notes(
    tenant: str, thread_id: str, bound: int = MAX_FROZEN_NOTES
) -> Iterator[dict[str, Any]]:
    """A thread's notes oldest first, at most `bound` of them, paginating the Query."""
    kwargs = _thread_notes_query(tenant, thread_id, None)
    produced = 0
    while produced < bound:
        kwargs["Limit"] = min(1000, bound - produced)
        result = aws.dynamodb().query(**kwargs)
        for raw in result.get("Items", []):
            produced += 1
            yield public_note(ddb.deserialize(raw))
        last = result.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def parse_kind(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw not in NOTE_KINDS:
        raise field_error("kind", f"must be one of {', '.join(NOTE_KINDS)}")
    return raw


def require_thread_id(raw: str | None) -> str:
    if not raw:
        raise field_error("thread_id", "required")
    if not valid_slug(raw):
        raise field_error("thread_id", SLUG_MESSAGE)
    return raw
