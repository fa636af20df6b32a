"""Threads: listing (from the thread items kept at write time) and deletion.

`GET /threads` is one Query on gsi2 `T#<tenant>#THREADS`, newest activity first.

Deletion marks before it removes, so what is being deleted is invisible at once and the
work can resume after any failure or timeout:
- a snapshot: its metadata item gets `deleting_at` and moves from the thread's snapshot
  partition (gsi1 `...#S`) to `...#SX`, and the thread's count and newest snapshot are
  updated, in one transaction; then every S3 version and delete marker of its object is
  removed; then the item.  A second DELETE finishes a half-done one and answers 404.
- a thread: its item gets `deleting_at` and loses its gsi2 keys (so it leaves
  `GET /threads`); every read of the thread's notes and snapshots then answers as if
  they did not exist, and writes into it answer 409.  Notes, then snapshots (objects
  first), are removed in batches of 25 until the time budget runs out (202, progress)
  or nothing is left (the thread item goes too: 204; the id may be used afresh).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.context import notes, snapshots, thread_item
from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.runtime.models import Count, Id, PageQuery, Time
from common.store import cursor, dynamo, objects, transact
from common.store.tables import GSI1, GSI1_PK, GSI2, GSI2_PK, GSI2_SK, PK, SK

BATCH = 25  # BatchWriteItem's limit


class ThreadsQuery(PageQuery):
    """GET /threads: the tenant's threads, newest activity first."""


_EXISTS_NOT_DELETING = thread_item.EXISTS_NOT_DELETING


@with_config(ConfigDict(extra="forbid"))
class ThreadView(TypedDict):
    thread_id: str
    goal: str
    persona: str
    notes_count: Count
    snapshots_count: Count
    newest_snapshot_id: Id | None
    newest_snapshot_at: Time | None
    created_at: Time | None
    last_activity_at: Time | None


@with_config(ConfigDict(extra="forbid"))
class Remaining(TypedDict):
    notes: Count
    snapshots: Count


@with_config(ConfigDict(extra="forbid", title="ThreadDeletion"))
class ThreadDeletionView(TypedDict):
    """The deletion ran out of its time budget; DELETE again to continue."""

    thread_id: str
    status: Literal["deleting"]
    remaining: Remaining


def public_thread(item: dict[str, Any]) -> ThreadView:
    return {
        "thread_id": item["thread_id"],
        "goal": item.get("goal") or "",
        "persona": item.get("persona") or "",
        "notes_count": max(0, int(item.get("notes_count") or 0)),
        "snapshots_count": max(0, int(item.get("snapshots_count") or 0)),
        "newest_snapshot_id": item.get("newest_snapshot_id"),
        "newest_snapshot_at": item.get("newest_snapshot_at"),
        "created_at": item.get("created_at"),
        "last_activity_at": item.get("last_activity"),
    }


def list_threads(tenant: str, limit: int, token: str | None) -> tuple[list[ThreadView], str | None]:
    """One page of the tenant's threads, newest activity first (deleting ones have left
    the index)."""
    query = {"route": "threads"}
    position = cursor.decode(token, tenant, query) if token else None
    page = dynamo.query_partition(
        settings().context_table,
        tenant,
        thread_item.threads_index_pk(tenant),
        index=GSI2,
        forward=False,
        limit=limit,
        start=position,
    )
    items = [public_thread(item) for item in page.items]
    return items, cursor.encode(tenant, query, page.last_key) if page.last_key else None


# --- one snapshot -----------------------------------------------------------------------


def deleting_snapshots_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#SX"


def delete_snapshot(tenant: str, snapshot_id: str) -> None:
    """Remove a snapshot's object (every version) and metadata; 404 if unknown or gone."""
    if not ids.is_valid_id(snapshot_id):
        raise NotFound("No such snapshot.")
    meta = snapshots.raw_meta(tenant, snapshot_id)
    if meta is None or thread_item.thread_deleting(tenant, str(meta["thread_id"])):
        raise NotFound("No such snapshot.")
    if "deleting_at" in meta:  # an earlier DELETE stopped half-way: finish it, still 404
        _purge_snapshots(tenant, [meta])
        raise NotFound("No such snapshot.")
    _mark_snapshot(tenant, meta)
    _purge_snapshots(tenant, [meta])


def _mark_snapshot(tenant: str, meta: dict[str, Any]) -> None:
    thread_id, snapshot_id = str(meta["thread_id"]), str(meta["snapshot_id"])
    table = settings().context_table
    names = {"#pk": PK, "#deleting": "deleting_at"}
    reasons = transact.run(
        [
            dynamo.update_op(
                table,
                {PK: snapshots.meta_pk(tenant, snapshot_id), SK: "S"},
                "SET #deleting = :now, #g1pk = :sx",
                condition=_EXISTS_NOT_DELETING,
                names={**names, "#g1pk": GSI1_PK},
                values={
                    ":now": clock.iso(clock.now()),
                    ":sx": deleting_snapshots_pk(tenant, thread_id),
                },
            ),
            dynamo.update_op(
                table,
                thread_item.thread_key(tenant, thread_id),
                "ADD #snaps :minus",
                condition=_EXISTS_NOT_DELETING,
                names={**names, "#snaps": "snapshots_count"},
                values={":minus": -1},
            ),
        ]
    )
    if reasons is not None:
        if any(transact.failed_condition(reason) for reason in reasons):
            raise NotFound("No such snapshot.")  # a concurrent DELETE won, or the thread is going
        raise ServiceUnavailable(retry_after=1)
    _replace_newest(tenant, thread_id, snapshot_id)


def _replace_newest(tenant: str, thread_id: str, removed_id: str) -> None:
    """If the removed snapshot was the thread's newest, the next one becomes it (only if
    no newer snapshot arrived meanwhile: a conditional update)."""
    candidates = dynamo.query_partition(
        settings().context_table,
        tenant,
        snapshots.thread_snapshots_pk(tenant, thread_id),
        index=GSI1,
        forward=False,
        limit=2,  # the index may still show the removed one for a moment
    ).items
    newest = next((c for c in candidates if c["snapshot_id"] != removed_id), None)
    names = {"#id": "newest_snapshot_id", "#at": "newest_snapshot_at"}
    values: dict[str, Any] = {":removed": removed_id}
    if newest is None:
        update = "REMOVE #id, #at"
    else:
        update = "SET #id = :id, #at = :at"
        values[":id"] = newest["snapshot_id"]
        values[":at"] = newest["created_at"]
    thread_item.update_thread_if(
        tenant, thread_id, update, condition="#id = :removed", names=names, values=values
    )


def _purge_snapshots(tenant: str, metas: list[dict[str, Any]]) -> None:
    """Every S3 version and delete marker of the objects, then the metadata items."""
    versions: list[dict[str, str]] = []
    for meta in metas:
        versions.extend(_object_versions(str(meta["s3_key"])))
    _delete_versions(versions)
    keys = [{PK: snapshots.meta_pk(tenant, str(m["snapshot_id"])), SK: "S"} for m in metas]
    _batch_delete(keys)


def _object_versions(key: str) -> list[dict[str, str]]:
    return objects.versions(settings().snapshots_bucket, key)


def _delete_versions(versions: list[dict[str, str]]) -> None:
    if not objects.delete_versions(settings().snapshots_bucket, versions):
        raise ServiceUnavailable(retry_after=1)


def _batch_delete(keys: list[dict[str, Any]]) -> None:
    dynamo.batch_delete(settings().context_table, keys)


# --- a whole thread ---------------------------------------------------------------------


def delete_thread(tenant: str, thread_id: str) -> ThreadDeletionView | None:
    """Delete the thread's notes, snapshots and objects within the time budget.

    None when everything is gone (204); otherwise the progress to answer with 202.
    """
    if not notes.valid_slug(thread_id):
        raise NotFound("No such thread.")
    thread = thread_item.get_thread(tenant, thread_id)
    if thread is None:
        raise NotFound("No such thread.")
    if "deleting_at" not in thread:
        _mark_thread(tenant, thread_id)
    deadline = time.monotonic() + settings().thread_delete_budget_seconds
    remaining = Remaining(
        notes=max(0, int(thread.get("notes_count") or 0)),
        snapshots=max(0, int(thread.get("snapshots_count") or 0)),
    )
    while True:  # at least one batch per call, so every call makes progress
        removed_notes = _delete_note_batch(tenant, thread_id)
        removed_snapshots = 0 if removed_notes else _delete_snapshot_batch(tenant, thread_id)
        if not removed_notes and not removed_snapshots:
            _remove_thread_item(tenant, thread_id)
            return None
        remaining["notes"] = max(0, remaining["notes"] - removed_notes)
        remaining["snapshots"] = max(0, remaining["snapshots"] - removed_snapshots)
        _count_removed(tenant, thread_id, removed_notes, removed_snapshots)
        if time.monotonic() >= deadline:
            return {"thread_id": thread_id, "status": "deleting", "remaining": remaining}


def _mark_thread(tenant: str, thread_id: str) -> None:
    # A failed condition: a concurrent DELETE marked it first (or removed it): carry on.
    thread_item.update_thread_if(
        tenant,
        thread_id,
        "SET #deleting = :now REMOVE #g2pk, #g2sk",
        condition=_EXISTS_NOT_DELETING,
        names={"#pk": PK, "#deleting": "deleting_at", "#g2pk": GSI2_PK, "#g2sk": GSI2_SK},
        values={":now": clock.iso(clock.now())},
    )


def _query_keys(tenant: str, partition: str, limit: int = BATCH) -> list[dict[str, Any]]:
    table = settings().context_table
    return dynamo.query_partition(table, tenant, partition, index=GSI1, limit=limit).items


def _delete_note_batch(tenant: str, thread_id: str) -> int:
    items = _query_keys(tenant, notes.thread_notes_pk(tenant, thread_id))
    _batch_delete([{PK: item[PK], SK: item[SK]} for item in items])
    return len(items)


def _delete_snapshot_batch(tenant: str, thread_id: str) -> int:
    metas = _query_keys(tenant, snapshots.thread_snapshots_pk(tenant, thread_id))
    metas += _query_keys(tenant, deleting_snapshots_pk(tenant, thread_id))  # half-deleted ones
    if metas:
        _purge_snapshots(tenant, metas)
    return len(metas)


def _count_removed(tenant: str, thread_id: str, removed_notes: int, removed_snapshots: int) -> None:
    """Progress on the thread item; conditional, so a finished deletion is not revived."""
    thread_item.update_thread_if(
        tenant,
        thread_id,
        "ADD #notes :n, #snaps :s",
        condition="attribute_exists(#deleting)",
        names={"#notes": "notes_count", "#snaps": "snapshots_count", "#deleting": "deleting_at"},
        values={":n": -removed_notes, ":s": -removed_snapshots},
    )


def _remove_thread_item(tenant: str, thread_id: str) -> None:
    try:
        dynamo.delete(
            settings().context_table,
            thread_item.thread_key(tenant, thread_id),
            condition="attribute_exists(#deleting)",
            names={"#deleting": "deleting_at"},
        )
    except dynamo.ConditionFailed:
        return  # a concurrent DELETE finished first
