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
from typing import Any

from common.context import notes, snapshots
from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ServiceUnavailable
from common.runtime.observability import logger
from common.store import aws, cursor, ddb
from common.store.aws import aws_error_code
from common.store.tables import GSI1, GSI1_PK, GSI2, GSI2_PK, GSI2_SK, PK, SK

BATCH = 25  # BatchWriteItem's limit
_EXISTS_NOT_DELETING = "attribute_exists(#pk) AND attribute_not_exists(#del)"
_WRITE_ATTEMPTS = 5


def public_thread(item: dict[str, Any]) -> dict[str, Any]:
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


def list_threads(
    tenant: str, limit: int, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tenant's threads, newest activity first (deleting ones have left
    the index)."""
    query = {"route": "threads"}
    kwargs: dict[str, Any] = {
        "TableName": settings().context_table,
        "IndexName": GSI2,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": GSI2_PK},
        "ExpressionAttributeValues": {":pk": ddb.value(notes.threads_index_pk(tenant))},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if token:
        kwargs["ExclusiveStartKey"] = ddb.serialize(cursor.decode(token, tenant, query))
    result = aws.dynamodb().query(**kwargs)
    items = [public_thread(ddb.deserialize(raw)) for raw in result.get("Items", [])]
    last = result.get("LastEvaluatedKey")
    return items, cursor.encode(tenant, query, ddb.deserialize(last)) if last else None


# --- one snapshot -----------------------------------------------------------------------


def deleting_snapshots_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#SX"


def delete_snapshot(tenant: str, snapshot_id: str) -> None:
    """Remove a snapshot's object (every version) and metadata; 404 if unknown or gone."""
    if not ids.is_valid_id(snapshot_id):
        raise NotFound("No such snapshot.")
    meta = snapshots.raw_meta(tenant, snapshot_id)
    if meta is None or notes.thread_deleting(tenant, str(meta["thread_id"])):
        raise NotFound("No such snapshot.")
    if "deleting_at" in meta:  # an earlier DELETE stopped half-way: finish it, still 404
        _purge_snapshots(tenant, [meta])
        raise NotFound("No such snapshot.")
    _mark_snapshot(tenant, meta)
    _purge_snapshots(tenant, [meta])


def _mark_snapshot(tenant: str, meta: dict[str, Any]) -> None:
    thread_id, snapshot_id = str(meta["thread_id"]), str(meta["snapshot_id"])
    table = settings().context_table
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": ddb.serialize({PK: snapshots.meta_pk(tenant, snapshot_id), SK: "S"}),
                        "UpdateExpression": "SET #del = :now, #g1pk = :sx",
                        "ConditionExpression": _EXISTS_NOT_DELETING,
                        "ExpressionAttributeNames": {
                            "#pk": PK,
                            "#del": "deleting_at",
                            "#g1pk": GSI1_PK,
                        },
                        "ExpressionAttributeValues": {
                            ":now": ddb.value(clock.iso(clock.now())),
                            ":sx": ddb.value(deleting_snapshots_pk(tenant, thread_id)),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": ddb.serialize({PK: notes.thread_pk(tenant, thread_id), SK: "TH"}),
                        "UpdateExpression": "ADD #snaps :minus",
                        "ConditionExpression": _EXISTS_NOT_DELETING,
                        "ExpressionAttributeNames": {
                            "#pk": PK,
                            "#del": "deleting_at",
                            "#snaps": "snapshots_count",
                        },
                        "ExpressionAttributeValues": {":minus": ddb.value(-1)},
                    }
                },
            ]
        )
    except Exception as exc:
        if notes.condition_failed(exc):  # a concurrent DELETE won, or the thread is going
            raise NotFound("No such snapshot.") from None
        raise
    _replace_newest(tenant, thread_id, snapshot_id)


def _replace_newest(tenant: str, thread_id: str, removed_id: str) -> None:
    """If the removed snapshot was the thread's newest, the next one becomes it (only if
    no newer snapshot arrived meanwhile: a conditional update)."""
    result = aws.dynamodb().query(
        TableName=settings().context_table,
        IndexName=GSI1,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": GSI1_PK},
        ExpressionAttributeValues={
            ":pk": ddb.value(snapshots.thread_snapshots_pk(tenant, thread_id))
        },
        ScanIndexForward=False,
        Limit=2,  # the index may still show the removed one for a moment
    )
    candidates = [ddb.deserialize(raw) for raw in result.get("Items", [])]
    newest = next((c for c in candidates if c["snapshot_id"] != removed_id), None)
    names = {"#id": "newest_snapshot_id", "#at": "newest_snapshot_at"}
    values: dict[str, Any] = {":removed": ddb.value(removed_id)}
    if newest is None:
        update = "REMOVE #id, #at"
    else:
        update = "SET #id = :id, #at = :at"
        values[":id"] = ddb.value(newest["snapshot_id"])
        values[":at"] = ddb.value(newest["created_at"])
    _update_thread_if(
        tenant,
        thread_id,
        UpdateExpression=update,
        ConditionExpression="#id = :removed",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _update_thread_if(tenant: str, thread_id: str, **update: Any) -> None:
    """UpdateItem on the thread item under a condition; a failed condition means a
    concurrent request already moved the thread on, so there is nothing left to do."""
    try:
        aws.dynamodb().update_item(
            TableName=settings().context_table,
            Key=ddb.serialize({PK: notes.thread_pk(tenant, thread_id), SK: "TH"}),
            **update,
        )
    except Exception as exc:
        if aws_error_code(exc) != "ConditionalCheckFailedException":
            raise


def _purge_snapshots(tenant: str, metas: list[dict[str, Any]]) -> None:
    """Every S3 version and delete marker of the objects, then the metadata items."""
    versions: list[dict[str, str]] = []
    for meta in metas:
        versions.extend(_object_versions(str(meta["s3_key"])))
    _delete_versions(versions)
    keys = [{PK: snapshots.meta_pk(tenant, str(m["snapshot_id"])), SK: "S"} for m in metas]
    _batch_delete(keys)


def _object_versions(key: str) -> list[dict[str, str]]:
    """Every version and delete marker of exactly `key` (the prefix may match longer keys)."""
    found: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {"Bucket": settings().snapshots_bucket, "Prefix": key}
    while True:
        page = aws.s3().list_object_versions(**kwargs)
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if entry["Key"] == key:
                found.append({"Key": key, "VersionId": str(entry["VersionId"])})
        if not page.get("IsTruncated"):
            return found
        kwargs["KeyMarker"] = page["NextKeyMarker"]
        kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]


def _delete_versions(versions: list[dict[str, str]]) -> None:
    for start in range(0, len(versions), 1000):  # DeleteObjects takes up to 1,000
        result = aws.s3().delete_objects(
            Bucket=settings().snapshots_bucket,
            Delete={"Objects": versions[start : start + 1000], "Quiet": True},
        )
        if result.get("Errors"):
            codes = sorted({str(e.get("Code")) for e in result["Errors"]})
            logger.warning("snapshot object versions not deleted", extra={"codes": codes})
            raise ServiceUnavailable(retry_after=1)


def _batch_delete(keys: list[dict[str, Any]]) -> None:
    table = settings().context_table
    for start in range(0, len(keys), BATCH):
        requests = [
            {"DeleteRequest": {"Key": ddb.serialize(k)}} for k in keys[start : start + BATCH]
        ]
        pending: dict[str, Any] = {table: requests}
        for _ in range(_WRITE_ATTEMPTS):
            result = aws.dynamodb().batch_write_item(RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
        if pending:
            raise ServiceUnavailable(retry_after=1)


# --- a whole thread ---------------------------------------------------------------------


def delete_thread(tenant: str, thread_id: str) -> dict[str, Any] | None:
    """Delete the thread's notes, snapshots and objects within the time budget.

    None when everything is gone (204); otherwise the progress to answer with 202.
    """
    if not notes.valid_slug(thread_id):
        raise NotFound("No such thread.")
    thread = notes.get_thread(tenant, thread_id)
    if thread is None:
        raise NotFound("No such thread.")
    if "deleting_at" not in thread:
        _mark_thread(tenant, thread_id)
    deadline = time.monotonic() + settings().thread_delete_budget_seconds
    remaining = {
        "notes": max(0, int(thread.get("notes_count") or 0)),
        "snapshots": max(0, int(thread.get("snapshots_count") or 0)),
    }
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
    _update_thread_if(
        tenant,
        thread_id,
        UpdateExpression="SET #del = :now REMOVE #g2pk, #g2sk",
        ConditionExpression=_EXISTS_NOT_DELETING,
        ExpressionAttributeNames={
            "#pk": PK,
            "#del": "deleting_at",
            "#g2pk": GSI2_PK,
            "#g2sk": GSI2_SK,
        },
        ExpressionAttributeValues={":now": ddb.value(clock.iso(clock.now()))},
    )


def _query_keys(partition: str, limit: int = BATCH) -> list[dict[str, Any]]:
    result = aws.dynamodb().query(
        TableName=settings().context_table,
        IndexName=GSI1,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": GSI1_PK},
        ExpressionAttributeValues={":pk": ddb.value(partition)},
        Limit=limit,
    )
    return [ddb.deserialize(raw) for raw in result.get("Items", [])]


def _delete_note_batch(tenant: str, thread_id: str) -> int:
    items = _query_keys(notes.thread_notes_pk(tenant, thread_id))
    _batch_delete([{PK: item[PK], SK: item[SK]} for item in items])
    return len(items)


def _delete_snapshot_batch(tenant: str, thread_id: str) -> int:
    metas = _query_keys(snapshots.thread_snapshots_pk(tenant, thread_id))
    metas += _query_keys(deleting_snapshots_pk(tenant, thread_id))  # half-deleted ones
    if metas:
        _purge_snapshots(tenant, metas)
    return len(metas)


def _count_removed(tenant: str, thread_id: str, removed_notes: int, removed_snapshots: int) -> None:
    """Progress on the thread item; conditional, so a finished deletion is not revived."""
    _update_thread_if(
        tenant,
        thread_id,
        UpdateExpression="ADD #notes :n, #snaps :s",
        ConditionExpression="attribute_exists(#del)",
        ExpressionAttributeNames={
            "#notes": "notes_count",
            "#snaps": "snapshots_count",
            "#del": "deleting_at",
        },
        ExpressionAttributeValues={
            ":n": ddb.value(-removed_notes),
            ":s": ddb.value(-removed_snapshots),
        },
    )


def _remove_thread_item(tenant: str, thread_id: str) -> None:
    try:
        aws.dynamodb().delete_item(
            TableName=settings().context_table,
            Key=ddb.serialize({PK: notes.thread_pk(tenant, thread_id), SK: "TH"}),
            ConditionExpression="attribute_exists(#del)",
            ExpressionAttributeNames={"#del": "deleting_at"},
        )
    except Exception as exc:
        if aws_error_code(exc) != "ConditionalCheckFailedException":
            raise
