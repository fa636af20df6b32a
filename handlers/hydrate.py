"""Function `hydrate`: POST /hydrate (≤ 5 MiB), GET /snapshots, GET|DELETE
/snapshots/{snapshot_id}, GET /threads, DELETE /threads/{thread_id}.

The thread routes live here because deleting a thread removes snapshot objects: this
function already holds the S3 permissions, and its 20 s timeout fits the deletion budget.
"""

from __future__ import annotations

from common.api import Response, RouteTable, http_handler
from common.context import snapshots, threads
from common.runtime.http import MIB, Request, empty_response, json_response, page
from common.runtime.routedoc import Page

MAX_SNAPSHOT_BODY = 5 * MIB
routes = RouteTable()


@routes.post(
    "/hydrate",
    auth="creator",
    ok={201: snapshots.SnapshotCreatedView},
    errors=(409,),
    max_body=MAX_SNAPSHOT_BODY,
)
def post_hydrate(request: Request, body: snapshots.SnapshotIn) -> Response:
    """Store a snapshot of a project's working state (body ≤ 5 MiB)

    409 while the thread is being deleted.
    """
    return json_response(201, snapshots.hydrate(request.tenant, body))


@routes.get("/snapshots", ok={200: Page(snapshots.SnapshotMetaView)})
def list_snapshots(request: Request, query: snapshots.SnapshotsQuery) -> Response:
    """A thread's snapshot metadata, newest first"""
    items, next_cursor = snapshots.list_meta(
        request.tenant, query.thread_id, query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


@routes.get("/snapshots/{snapshot_id}", ok={200: snapshots.SnapshotMetaView})
def get_snapshot(request: Request) -> Response:
    """One snapshot's metadata"""
    meta = snapshots.get_meta(request.tenant, request.path_param("snapshot_id"))
    return json_response(200, snapshots.public_meta(meta))


@routes.delete("/snapshots/{snapshot_id}", auth="creator", ok={204: None})
def delete_snapshot(request: Request) -> Response:
    """Delete a snapshot (object versions, then metadata)"""
    threads.delete_snapshot(request.tenant, request.path_param("snapshot_id"))
    return empty_response(204)


@routes.get("/threads", ok={200: Page(threads.ThreadView)})
def list_threads(request: Request, query: threads.ThreadsQuery) -> Response:
    """The tenant's threads, newest activity first"""
    items, next_cursor = threads.list_threads(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


@routes.delete(
    "/threads/{thread_id}", auth="creator", ok={204: None, 202: threads.ThreadDeletionView}
)
def delete_thread(request: Request) -> Response:
    """Delete a thread with its notes and snapshots

    202 when the time budget ran out; call again to continue.
    """
    progress = threads.delete_thread(request.tenant, request.path_param("thread_id"))
    return empty_response(204) if progress is None else json_response(202, progress)


ROUTES = routes.table
handler = http_handler("hydrate", ROUTES)
