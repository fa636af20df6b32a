"""Notes on a work thread.

A note is one item in the context table, listed by thread on gsi1 (oldest first) and by
thread and kind on gsi2 (so `?kind=` is a Query, not a filter); the keys are built
below (the data layout of docs/conventions.md).  Every note write is one transaction
with the thread item (common/context/thread_item.py) and the day counter, after its
secrets are redacted (common/context/redact.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.context import redact, thread_item
from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.runtime.models import (
    INTEGRAL,
    BodyModel,
    Id,
    PageQuery,
    Redactions,
    SlugParam,
    Time,
    query_choice,
)
from common.runtime.slug import Slug, is_slug
from common.store import cursor, dynamo, transact
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK

NoteKind = Literal["note", "decision", "question", "todo"]
NOTE_KINDS: tuple[str, ...] = ("note", "decision", "question", "todo")
KIND = query_choice(NOTE_KINDS)  # `?kind=`, and the MCP tools' `kind` (KIND.typed)
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# The most notes a snapshot freezes: bounds the hydrate request's DynamoDB reads.
MAX_FROZEN_NOTES = 2000


class SourceRef(BodyModel):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    line: Annotated[int, Field(ge=1), INTEGRAL]


class NotesQuery(PageQuery):
    """GET /notes: a thread's notes, optionally of one kind."""

    thread_id: SlugParam
    kind: Annotated[str, KIND] | None = None


class NoteIn(BodyModel):
    thread_id: Slug
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    kind: NoteKind = "note"
    source: SourceRef | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)


def valid_slug(value: str) -> bool:
    return is_slug(value)


# --- keys (attribute and index names: common/store/tables.py) --------------------------


def note_pk(tenant: str, note_id: str) -> str:
    return f"T#{tenant}#N#{note_id}"


def thread_notes_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#N"


def thread_kind_pk(tenant: str, thread_id: str, kind: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#NK#{kind}"


# --- notes ------------------------------------------------------------------------------


@with_config(ConfigDict(extra="forbid"))
class SourceView(TypedDict):
    path: str
    line: int


@with_config(ConfigDict(extra="forbid"))
class NoteView(TypedDict):
    note_id: Id
    thread_id: str
    kind: NoteKind
    text: str
    source: SourceView | None
    tags: list[str]
    created_at: Time


class NoteCreatedView(NoteView):
    redactions: Redactions


def public_note(item: dict[str, Any]) -> NoteView:
    return {
        "note_id": item["note_id"],
        "thread_id": item["thread_id"],
        "kind": item["kind"],
        "text": item["text"],
        "source": item.get("source"),
        "tags": list(item.get("tags") or []),
        "created_at": item["created_at"],
    }


def create_note(tenant: str, note: NoteIn) -> NoteCreatedView:
    """Store the note, its secrets redacted first (every caller, HTTP or MCP, comes
    through here: the server does not trust clients to have redacted)."""
    found = redact.redact_model(note)
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
    thread_item.put_in_thread(
        tenant, note.thread_id, item, moment, counter="notes_created", notes_delta=1
    )
    catalogue.count("notes_created")
    return {**public_note(item), "redactions": found}


def get_note(tenant: str, note_id: str) -> dict[str, Any]:
    """The note, or 404 for an unknown id and for another tenant's id alike."""
    if not ids.is_valid_id(note_id):
        raise NotFound("No such note.")
    item = thread_item.get_item(note_pk(tenant, note_id), "N")
    if item is None or thread_item.thread_deleting(tenant, str(item["thread_id"])):
        raise NotFound("No such note.")
    return item


def delete_note(tenant: str, note_id: str) -> None:
    """Delete the note and decrement its thread's count; a concurrent delete gets 404."""
    item = get_note(tenant, note_id)
    moment = clock.now()
    reasons = transact.run(
        [
            dynamo.delete_op(
                settings().context_table,
                {PK: note_pk(tenant, note_id), SK: "N"},
                condition="attribute_exists(#pk)",
                names={"#pk": PK},
            ),
            thread_item.touch_op(tenant, str(item["thread_id"]), moment, notes_delta=-1),
        ]
    )
    if reasons is None:
        return
    if any(transact.failed_condition(reason) for reason in reasons):
        raise NotFound("No such note.")  # a concurrent delete won, or the thread is going
    raise ServiceUnavailable(retry_after=1)


def list_notes(
    tenant: str,
    thread_id: str,
    kind: str | None,
    limit: int,
    token: str | None,
) -> tuple[list[NoteView], str | None]:
    """One page of a thread's notes, oldest first: a single Query on gsi1 (or gsi2 by kind)."""
    query = {"route": "notes", "thread_id": thread_id, "kind": kind}
    # Decoded first: a bad cursor is a 400 whatever the thread.
    position = cursor.decode(token, tenant, query) if token else None
    if thread_item.thread_deleting(tenant, thread_id):
        return [], None
    page = _query_thread_notes(tenant, thread_id, kind, limit=limit, start=position)
    items = [public_note(item) for item in page.items]
    next_token = cursor.encode(tenant, query, page.last_key) if page.last_key else None
    return items, next_token


def _query_thread_notes(
    tenant: str, thread_id: str, kind: str | None, *, limit: int, start: Any = None
) -> dynamo.Page:
    if kind is not None:
        index, pk_value = GSI2, thread_kind_pk(tenant, thread_id, kind)
    else:
        index, pk_value = GSI1, thread_notes_pk(tenant, thread_id)
    return dynamo.query_partition(
        settings().context_table,
        tenant,
        pk_value,
        index=index,
        limit=limit,
        start=start,
    )


def iter_thread_notes(
    tenant: str, thread_id: str, bound: int = MAX_FROZEN_NOTES
) -> Iterator[NoteView]:
    """A thread's notes oldest first, at most `bound` of them, paginating the Query."""
    produced, start = 0, None
    while produced < bound:
        page = _query_thread_notes(
            tenant, thread_id, None, limit=min(1000, bound - produced), start=start
        )
        for item in page.items:
            produced += 1
            yield public_note(item)
        if page.last_key is None:
            return
        start = page.last_key
