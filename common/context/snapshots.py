"""Snapshots: the strict input model, storage in S3 (gzip'd JSON) and metadata in DynamoDB.

Object: `tenants/<tenant>/snapshots/<snapshot_id>.json.gz`, SSE, ContentType
application/json, ContentEncoding gzip, metadata `sha256` = SHA-256 of the
uncompressed UTF-8 JSON document.  Metadata item (context table): pk
`T#<tenant>#S#<snapshot_id>` / sk `S`; gsi1 `T#<tenant>#TH#<thread>#S` / `<snapshot_id>`.

Write order: the body's secrets redacted (common/context/redact.py; every caller comes
through `hydrate`), S3 next, then one TransactWriteItems (metadata + thread item + day
counter).  A failed S3 write leaves nothing in DynamoDB; a failed transaction deletes
the object version it just wrote, so metadata never points at a missing object and
no object is left without metadata (best effort).  Reads verify the SHA-256 against
the metadata item: a mismatch is an internal error, logged with its cause.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.context import notes, redact, thread_item
from common.runtime import catalogue, clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, InternalError, NotFound, ServiceUnavailable
from common.runtime.models import (
    INTEGRAL,
    BodyModel,
    Count,
    Id,
    PageQuery,
    Redactions,
    SlugParam,
    Time,
    TimestampAsSent,
)
from common.runtime.observability import logger
from common.runtime.slug import Slug
from common.store import cursor, dynamo, objects
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, PK, SK

SCHEMA_VERSION = 1
Text = Annotated[str, StringConstraints(max_length=100_000)]
Short = Annotated[str, StringConstraints(max_length=1024)]


class _Strict(BodyModel):
    """The snapshot's parts: unknown fields refused, nothing coerced."""


class ThreadIn(_Strict):
    id: Slug
    goal: Short = ""
    persona: Annotated[str, StringConstraints(max_length=64)] = "generalist"
    focus: Short = ""
    output: Short = ""
    constraints: Text = ""


class RepoIn(_Strict):
    name: Short = ""
    branch: Short = ""
    head: Short = ""


class CommitIn(_Strict):
    sha: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    message: Text
    author: Short = ""
    timestamp: TimestampAsSent
    # Optional: the collector flags merge commits (more than one parent); the document
    # counts them instead of listing them (git's own merge subjects are recognised too).
    merge: bool | None = None


class ChangeIn(_Strict):
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    status: Literal["added", "modified", "deleted", "renamed"]
    old_path: Annotated[str, StringConstraints(max_length=4096)] | None = None


class MarkerIn(_Strict):
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    line: Annotated[int, Field(ge=1), INTEGRAL]
    kind: Literal["TODO", "FIXME", "NOTE", "QUESTION", "HACK"]
    text: Text
    context: Text | None = None


class TaskIn(_Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    status: Literal["done", "in_progress", "todo"]


class LanguageIn(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    files: Annotated[int, Field(ge=0), INTEGRAL]


class ProjectIn(_Strict):
    """What the repository is (`dockhand snapshot` fills it in): its README's first
    paragraph, top-level layout, languages by file count, the test command it found."""

    summary: Annotated[str, StringConstraints(max_length=2000)] = ""
    layout: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=256)]],
        Field(max_length=200),
    ] = Field(default_factory=list)
    languages: Annotated[list[LanguageIn], Field(max_length=50)] = Field(default_factory=list)
    test_command: Short = ""


class SnapshotsQuery(PageQuery):
    """GET /snapshots: a thread's snapshot metadata."""

    thread_id: SlugParam


class SnapshotIn(_Strict):
    thread: ThreadIn
    repo: RepoIn | None = None
    commits: list[CommitIn] = Field(default_factory=list)
    changes: list[ChangeIn] = Field(default_factory=list)
    markers: list[MarkerIn] = Field(default_factory=list)
    decisions: list[Text] = Field(default_factory=list)
    constraints: list[Text] = Field(default_factory=list)
    tasks: list[TaskIn] = Field(default_factory=list)
    project: ProjectIn | None = None
    captured_at: TimestampAsSent | None = None


# --- keys -------------------------------------------------------------------------------


def meta_pk(tenant: str, snapshot_id: str) -> str:
    return f"T#{tenant}#S#{snapshot_id}"


def thread_snapshots_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}#S"


def object_key(tenant: str, snapshot_id: str) -> str:
    return f"tenants/{tenant}/snapshots/{snapshot_id}.json.gz"


# --- the stored document ----------------------------------------------------------------


def encode_document(document: dict[str, Any]) -> tuple[bytes, bytes, str]:
    """(utf-8 JSON, gzip of it, hex SHA-256 of the JSON).  mtime=0: same input, same bytes."""
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()


def build_document(
    snapshot: SnapshotIn, snapshot_id: str, created_at: str, frozen_notes: list[dict[str, Any]]
) -> dict[str, Any]:
    body = snapshot.model_dump(mode="json")
    thread = body["thread"]
    for commit in body["commits"]:
        if not commit.get("merge"):
            commit.pop("merge", None)  # stored only when set
    extra = {"project": body["project"]} if body.get("project") else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "snapshot_id": snapshot_id,
        "thread": thread,
        "repo": body["repo"] or {},
        "commits": body["commits"],
        "changes": body["changes"],
        "markers": body["markers"],
        "decisions": body["decisions"],
        "constraints": body["constraints"],
        "tasks": body["tasks"],
        "notes": frozen_notes,
        **extra,
        "captured_at": snapshot.captured_at or created_at,
        "created_at": created_at,
    }


@with_config(ConfigDict(extra="forbid"))
class SnapshotCounts(TypedDict):
    commits: Count
    changes: Count
    markers: Count
    notes: Count
    tasks: Count


@with_config(ConfigDict(extra="forbid"))
class SnapshotMetaView(TypedDict):
    snapshot_id: Id
    thread_id: str
    created_at: Time
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    size_bytes: Count
    counts: SnapshotCounts


class SnapshotCreatedView(SnapshotMetaView):
    redactions: Redactions


def counts_of(document: dict[str, Any]) -> dict[str, int]:
    return {
        name: len(document[name]) for name in ("commits", "changes", "markers", "notes", "tasks")
    }


def public_meta(item: dict[str, Any]) -> SnapshotMetaView:
    counts = {k: int(v) for k, v in item["counts"].items()}
    return {
        "snapshot_id": item["snapshot_id"],
        "thread_id": item["thread_id"],
        "created_at": item["created_at"],
        "sha256": item["sha256"],
        "size_bytes": item["size_bytes"],
        "counts": SnapshotCounts(
            commits=counts["commits"],
            changes=counts["changes"],
            markers=counts["markers"],
            notes=counts["notes"],
            tasks=counts["tasks"],
        ),
    }


# --- hydrate ----------------------------------------------------------------------------


def hydrate(tenant: str, snapshot: SnapshotIn) -> SnapshotCreatedView:
    """Redact the snapshot's secrets, freeze the thread's notes, store the document in S3,
    then its metadata in DynamoDB.  Every caller comes through here, so nothing is
    stored unredacted (the server does not trust clients to have redacted)."""
    found = redact.redact_model(snapshot)
    moment = clock.now()
    snapshot_id = ids.new_id()
    created_at = clock.iso(moment)
    thread_id = snapshot.thread.id
    if not snapshot.thread.goal:
        snapshot.thread.goal = _last_goal(tenant, thread_id)
    # Notes are redacted when written; again here for notes stored before redaction existed.
    frozen = redact.redact_value(list(notes.iter_thread_notes(tenant, thread_id)), Counter())
    document = build_document(snapshot, snapshot_id, created_at, frozen)
    raw, compressed, digest = encode_document(document)
    key = object_key(tenant, snapshot_id)
    version_id = _put_object(key, compressed, digest)
    item = {
        PK: meta_pk(tenant, snapshot_id),
        SK: "S",
        GSI1_PK: thread_snapshots_pk(tenant, thread_id),
        GSI1_SK: snapshot_id,
        "tenant": tenant,
        "snapshot_id": snapshot_id,
        "thread_id": thread_id,
        "created_at": created_at,
        "captured_at": document["captured_at"],
        "sha256": digest,
        "size_bytes": len(raw),
        "stored_bytes": len(compressed),
        "counts": counts_of(document),
        "s3_key": key,
        "s3_version_id": version_id,
        "goal": snapshot.thread.goal,
        "persona": snapshot.thread.persona,
    }
    thread_fields = {
        "goal": snapshot.thread.goal,
        "persona": snapshot.thread.persona,
        "newest_snapshot_id": snapshot_id,
        "newest_snapshot_at": created_at,
    }
    try:
        thread_item.put_in_thread(
            tenant, thread_id, item, moment, counter="snapshots_created", snapshot=thread_fields
        )
    except Exception as exc:
        logger.warning(
            "snapshot metadata write failed; removing the object",
            extra={"cause": type(exc).__name__, "snapshot_id": snapshot_id},
        )
        _delete_object(key, version_id)
        if isinstance(exc, Conflict):  # the thread is being deleted
            raise
        raise ServiceUnavailable(retry_after=1) from None
    catalogue.count("snapshots_created")
    catalogue.record("snapshot_bytes", len(raw))
    return {**public_meta(item), "redactions": found}


def _last_goal(tenant: str, thread_id: str) -> str:
    """The thread's goal so far: a snapshot that states none carries it on (one GetItem,
    only for such a snapshot)."""
    thread = thread_item.get_thread(tenant, thread_id)
    if thread is None or "deleting_at" in thread:
        return ""
    return str(thread.get("goal") or "")


def _put_object(key: str, body: bytes, digest: str) -> str | None:
    return objects.put(
        settings().snapshots_bucket,
        key,
        body,
        metadata={"sha256": digest},
        ContentType="application/json",
        ContentEncoding="gzip",
        ServerSideEncryption="aws:kms",  # the bucket default (SSE-KMS, AWS-managed key)
    )


def _delete_object(key: str, version_id: str | None) -> None:
    """Best effort: a leftover object without metadata is unreachable, not harmful."""
    try:
        objects.delete(settings().snapshots_bucket, key, version_id)
        catalogue.count("snapshot_orphans_removed")
    except Exception as exc:
        logger.error(
            "could not remove orphaned snapshot object", extra={"key": key, "cause": repr(exc)}
        )


# --- reads ------------------------------------------------------------------------------


def get_meta(tenant: str, snapshot_id: str) -> dict[str, Any]:
    """The metadata item, or 404 for an unknown id and for another tenant's id alike."""
    if not ids.is_valid_id(snapshot_id):
        raise NotFound("No such snapshot.")
    meta = raw_meta(tenant, snapshot_id)
    if meta is None or "deleting_at" in meta:
        raise NotFound("No such snapshot.")
    thread = thread_item.get_thread(tenant, str(meta["thread_id"]))
    if thread is not None and "deleting_at" in thread:
        raise NotFound("No such snapshot.")  # being deleted: already invisible
    return _with_newest(meta, thread)


NEWEST = "newest_of_thread"  # set on a read meta (never stored): its thread's newest?


def _with_newest(meta: dict[str, Any], thread: dict[str, Any] | None) -> dict[str, Any]:
    """The thread item, read anyway for the deletion check, says which snapshot is the
    thread's newest (it is written in the snapshot's own transaction)."""
    newest = thread is not None and thread.get("newest_snapshot_id") == meta["snapshot_id"]
    return {**meta, NEWEST: newest}


def raw_meta(tenant: str, snapshot_id: str) -> dict[str, Any] | None:
    """The metadata item as stored, half-deleted ones included, or None."""
    return thread_item.get_item(meta_pk(tenant, snapshot_id), "S")


def newest_meta(tenant: str, thread_id: str) -> dict[str, Any]:
    """The thread's newest snapshot's metadata: one Query (newest first, Limit 1), or 404."""
    thread = thread_item.get_thread(tenant, thread_id)
    if thread is not None and "deleting_at" in thread:
        raise NotFound("This thread has no snapshots.")
    items = _query_thread_snapshots(tenant, thread_id, limit=1).items
    if not items:
        raise NotFound("This thread has no snapshots.")
    return _with_newest(items[0], thread)


def list_meta(
    tenant: str, thread_id: str, limit: int, token: str | None
) -> tuple[list[SnapshotMetaView], str | None]:
    """One page of a thread's snapshots, newest first."""
    query = {"route": "snapshots", "thread_id": thread_id}
    # Decoded first: a bad cursor is a 400 whatever the thread.
    position = cursor.decode(token, tenant, query) if token else None
    if thread_item.thread_deleting(tenant, thread_id):
        return [], None
    page = _query_thread_snapshots(tenant, thread_id, limit=limit, start=position)
    items = [public_meta(item) for item in page.items]
    return items, cursor.encode(tenant, query, page.last_key) if page.last_key else None


def _query_thread_snapshots(
    tenant: str, thread_id: str, *, limit: int, start: Any = None
) -> dynamo.Page:
    """A page of the thread's snapshot metadata, newest first (one Query on gsi1)."""
    return dynamo.query_partition(
        settings().context_table,
        tenant,
        thread_snapshots_pk(tenant, thread_id),
        index=GSI1,
        forward=False,
        limit=limit,
        start=start,
    )


class ChecksumMismatch(InternalError):
    """The stored object is not the one the metadata describes."""


def load_document(meta: dict[str, Any]) -> dict[str, Any]:
    """Fetch, decompress and verify the snapshot document; any mismatch is a 500."""
    compressed = objects.get(settings().snapshots_bucket, str(meta["s3_key"]))
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError) as exc:
        _integrity_failure(meta, f"not gzip data: {exc!r}")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != meta["sha256"]:
        _integrity_failure(meta, f"sha256 {actual} != expected {meta['sha256']}")
    document: dict[str, Any] = json.loads(raw.decode("utf-8"))
    return document


def _integrity_failure(meta: dict[str, Any], cause: str) -> Any:
    catalogue.count("snapshot_checksum_failures")
    logger.error(
        "snapshot integrity check failed",
        extra={"snapshot_id": meta["snapshot_id"], "s3_key": meta["s3_key"], "cause": cause},
    )
    raise ChecksumMismatch()
