"""The named queues (/queues): add, list, read with its backlog, delete."""

from __future__ import annotations

from common.api import Response, RouteTable
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.routedoc import Page
from common.triggers import queues

routes = RouteTable()


@routes.post(
    "/queues",
    auth="creator",
    ok={201: queues.QueueView},
    errors=(409,),
    description="409 for a name in use, for `inbox` (the tenant inbox), and beyond "
    f"{queues.MAX_QUEUES} named queues per tenant.",
)
def create_queue(request: Request, body: queues.NewQueue) -> Response:
    """Add a named queue: its own copy of every matching event created from now on"""
    return json_response(201, queues.create(request.tenant, body))


@routes.get("/queues", ok={200: Page(queues.QueueView)})
def list_queues(request: Request, query: queues.QueuesQuery) -> Response:
    """The tenant's queues, `inbox` first"""
    items, next_cursor = queues.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


@routes.get("/queues/{name}", ok={200: queues.QueueDetailView})
def get_queue(request: Request) -> Response:
    """One queue with its backlog"""
    return json_response(200, queues.detail(request.tenant, request.path_param("name")))


@routes.delete("/queues/{name}", auth="creator", ok={204: None}, errors=(409,))
def delete_queue(request: Request) -> Response:
    """Delete a named queue and its entries

    The tenant inbox cannot be deleted (409).
    """
    queues.delete(request.tenant, request.path_param("name"))
    return empty_response(204)
