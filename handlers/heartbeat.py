"""Function `heartbeat`: agent registration, signed heartbeats and agent listing."""

from __future__ import annotations

from common.agents import registry as agents
from common.api import Response, Route, http_handler
from common.runtime.http import KIB, Request, json_response, page, parse_limit


def register_agent(request: Request) -> Response:
    body = request.json_model(agents.RegisterAgent)
    return json_response(201, agents.register(request.tenant, body))


def accept_heartbeat(request: Request) -> Response:
    # The signature is the authentication: check it before reading the body, so an
    # unauthenticated caller learns nothing about what a valid body looks like.
    verified = agents.verify_signature(
        request.path_param("agent_id"),
        request.method,
        request.header("x-agent-timestamp"),
        request.header("x-agent-signature"),
        request.body,
    )
    figures = request.json_model(agents.HeartbeatFigures)
    agents.record_heartbeat(verified, figures)
    return json_response(
        200, {"status": "healthy", "next_check_interval": agents.interval_seconds()}
    )


def list_agents(request: Request) -> Response:
    query = request.query_model(agents.AgentQuery)
    items, next_cursor = agents.list_agents(request.tenant, query, parse_limit(request.query))
    return json_response(200, page(items, next_cursor))


def get_agent(request: Request) -> Response:
    return json_response(200, agents.get_agent(request.tenant, request.path_param("agent_id")))


ROUTES: dict[str, Route] = {
    "POST /agents": Route(register_agent, auth="creator"),
    "GET /agents": Route(list_agents, auth="viewer"),
    "GET /agents/{agent_id}": Route(get_agent, auth="viewer"),
    # No API key: the agent's HMAC signature authenticates it.  Heartbeats are small.
    "POST /agents/{agent_id}/heartbeat": Route(accept_heartbeat, auth="none", max_body=16 * KIB),
}

handler = http_handler("heartbeat", ROUTES)
