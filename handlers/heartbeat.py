"""Function `heartbeat`: agent registration, signed heartbeats, listing, history,
deletion and secret rotation, and agents as workers (signed lease, ack, release)."""

from __future__ import annotations

from typing import Any

from common.agents import heartbeats, history, signing, work
from common.agents import registry as agents
from common.api import Response, Route, http_handler
from common.runtime.http import (
    KIB,
    Request,
    empty_response,
    json_response,
    page,
)


def register_agent(request: Request) -> Response:
    body = request.json_model(agents.RegisterAgent)
    return json_response(201, agents.register(request.tenant, body))


def accept_heartbeat(request: Request) -> Response:
    # The signature is the authentication: check it before reading the body, so an
    # unauthenticated caller learns nothing about what a valid body looks like.
    signed = signing.check_headers(
        request.path_param("agent_id"),
        request.method,
        request.header("x-agent-timestamp"),
        request.header("x-agent-signature"),
        request.body,
    )
    agent = heartbeats.authenticate(signed)
    figures = request.json_model(heartbeats.HeartbeatFigures)
    return json_response(200, heartbeats.record(signed, agent, figures))


def _signed_worker(request: Request, action: str) -> dict[str, Any]:
    """The live agent a worker call is signed by (401 otherwise), before the body is read."""
    signed = signing.check_headers(
        request.path_param("agent_id"),
        request.method,
        request.header("x-agent-timestamp"),
        request.header("x-agent-signature"),
        request.body,
        action=action,
    )
    return work.authenticate_worker(signed)


def worker_lease(request: Request) -> Response:
    agent = _signed_worker(request, "lease")
    return json_response(200, work.lease(agent, request.json_model(work.AgentLeaseRequest)))


def worker_ack(request: Request) -> Response:
    agent = _signed_worker(request, "ack")
    return json_response(200, work.ack(agent, request.json_model(work.AgentAckRequest)))


def worker_release(request: Request) -> Response:
    agent = _signed_worker(request, "release")
    return json_response(200, work.release(agent, request.json_model(work.AgentReleaseRequest)))


def list_agents(request: Request) -> Response:
    query = request.query_model(agents.AgentQuery)
    items, next_cursor = agents.list_agents(request.tenant, query)
    return json_response(200, page(items, next_cursor))


def get_agent(request: Request) -> Response:
    return json_response(200, agents.get_agent(request.tenant, request.path_param("agent_id")))


def get_history(request: Request) -> Response:
    query = request.query_model(history.HistoryQuery)
    items, next_cursor = history.list_history(
        request.tenant, request.path_param("agent_id"), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


def delete_agent(request: Request) -> Response:
    agents.delete_agent(request.tenant, request.path_param("agent_id"))
    return empty_response(204)


def rotate_agent_secret(request: Request) -> Response:
    rotated = agents.rotate_secret(request.tenant, request.path_param("agent_id"))
    return json_response(200, rotated)


ROUTES: dict[str, Route] = {
    "POST /agents": Route(register_agent, auth="creator"),
    "GET /agents": Route(list_agents, auth="viewer"),
    "GET /agents/{agent_id}": Route(get_agent, auth="viewer"),
    "DELETE /agents/{agent_id}": Route(delete_agent, auth="creator"),
    "GET /agents/{agent_id}/history": Route(get_history, auth="viewer"),
    "POST /agents/{agent_id}/rotate-secret": Route(rotate_agent_secret, auth="creator"),
    # No API key: the agent's HMAC signature authenticates it.  Heartbeats are small.
    "POST /agents/{agent_id}/heartbeat": Route(accept_heartbeat, auth="none", max_body=16 * KIB),
    # Agents as workers, signed the same way; an ack carries a result of up to 16 KiB.
    "POST /agents/{agent_id}/lease": Route(worker_lease, auth="none", max_body=16 * KIB),
    "POST /agents/{agent_id}/ack": Route(worker_ack, auth="none", max_body=64 * KIB),
    "POST /agents/{agent_id}/release": Route(worker_release, auth="none", max_body=16 * KIB),
}

handler = http_handler("heartbeat", ROUTES)
