"""The agent registry's routes (API key): register, list, read, history, delete, rotate."""

from __future__ import annotations

from common.agents import history, layout
from common.agents import registry as agents
from common.api import Response, RouteTable
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.routedoc import Page

routes = RouteTable()


@routes.post("/agents", auth="creator", ok={201: agents.AgentCreatedView}, errors=(409,))
def register_agent(request: Request, body: agents.RegisterAgent) -> Response:
    """Register an agent (the secret is shown once)"""
    return json_response(201, agents.register(request.tenant, body))


@routes.get("/agents", ok={200: Page(layout.AgentView)})
def list_agents(request: Request, query: agents.AgentQuery) -> Response:
    """The tenant's agents"""
    items, next_cursor = agents.list_agents(request.tenant, query)
    return json_response(200, page(items, next_cursor))


@routes.get("/agents/{agent_id}", ok={200: agents.AgentDetailView})
def get_agent(request: Request) -> Response:
    """One agent, with the work it holds as a worker"""
    return json_response(200, agents.get_agent(request.tenant, request.path_param("agent_id")))


@routes.get("/agents/{agent_id}/history", ok={200: Page(history.HistoryEntryView)})
def get_history(request: Request, query: history.HistoryQuery) -> Response:
    """The agent's status changes, newest first (kept 90 days)"""
    items, next_cursor = history.list_history(
        request.tenant, request.path_param("agent_id"), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


@routes.delete("/agents/{agent_id}", auth="creator", ok={204: None})
def delete_agent(request: Request) -> Response:
    """Remove an agent: its heartbeats are refused from now on and its name is free again"""
    agents.delete_agent(request.tenant, request.path_param("agent_id"))
    return empty_response(204)


@routes.post(
    "/agents/{agent_id}/rotate-secret",
    auth="creator",
    ok={200: agents.SecretRotatedView},
    errors=(409,),
)
def rotate_agent_secret(request: Request) -> Response:
    """A new agent secret; the previous one is accepted for 10 more minutes

    409 when another rotation of the same agent happened at the same time.
    """
    return json_response(200, agents.rotate_secret(request.tenant, request.path_param("agent_id")))
