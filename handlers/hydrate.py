"""Function `hydrate`: POST /hydrate (≤ 5 MiB), GET /snapshots, GET|DELETE
/snapshots/{snapshot_id}, GET /threads, DELETE /threads/{thread_id}.

The thread routes live here because deleting a thread removes snapshot objects: this
function already holds the S3 permissions, and its 20 s timeout fits the deletion budget.
"""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.context import snapshots, threads
from common.runtime.http import (
    MIB,
    Request,
    empty_response,
    json_response,
    page,
)

MAX_SNAPSHOT_BODY = 5 * MIB


def post_hydrate(request: Request) -> Response:
    snapshot = request.json_model(snapshots.SnapshotIn)
    return json_response(201, snapshots.hydrate(request.tenant, snapshot))


def list_snapshots(request: Request) -> Response:
    query = request.query_model(snapshots.SnapshotsQuery)
    items, next_cursor = snapshots.list_meta(
        request.tenant, query.thread_id, query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


def get_snapshot(request: Request) -> Response:
    meta = snapshots.get_meta(request.tenant, request.path_param("snapshot_id"))
    return json_response(200, snapshots.public_meta(meta))


def delete_snapshot(request: Request) -> Response:
    threads.delete_snapshot(request.tenant, request.path_param("snapshot_id"))
    return empty_response(204)


def list_threads(request: Request) -> Response:
    query = request.query_model(threads.ThreadsQuery)
    items, next_cursor = threads.list_threads(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def delete_thread(request: Request) -> Response:
    progress = threads.delete_thread(request.tenant, request.path_param("thread_id"))
    return empty_response(204) if progress is None else json_response(202, progress)


ROUTES: dict[str, Route] = {
    "POST /hydrate": Route(post_hydrate, auth="creator", max_body=MAX_SNAPSHOT_BODY),
    "GET /snapshots": Route(list_snapshots),
    "GET /snapshots/{snapshot_id}": Route(get_snapshot),
    "DELETE /snapshots/{snapshot_id}": Route(delete_snapshot, auth="creator"),
    "GET /threads": Route(list_threads),
    "DELETE /threads/{thread_id}": Route(delete_thread, auth="creator"),
}

handler = http_handler("hydrate", ROUTES)
