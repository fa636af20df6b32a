"""Function `heartbeat`: agent registration, signed heartbeats, listing, history,
deletion and secret rotation, and agents as workers (signed lease, ack, release).

Signed routes take no API key: the agent's HMAC signature authenticates it, checked by
the route's guard before the body is read, so an unauthenticated caller learns nothing
about what a valid body looks like."""

from __future__ import annotations

from typing import Any

from common.agents import heartbeats, history, layout, signing, work
from common.agents import registry as agents
from common.api import Response, RouteTable, http_handler
from common.runtime.http import KIB, Request, empty_response, json_response, page
from common.runtime.routedoc import Extras, Page
from common.triggers.inbox import ack, lease, release

routes = RouteTable()
Agent = dict[str, Any]
Signed = tuple[signing.SignedRequest, Agent]


def _signed(request: Request, action: str = "heartbeat") -> Signed:
    """The agent the request is signed by; 401 when it is not (or, for worker calls,
    when the agent is dead or the signature was used before)."""
    signed = signing.check_request(request, action)
    if action == "heartbeat":
        return signed, heartbeats.authenticate(signed)
    return signed, work.authenticate_worker(signed)


def signed(action: str, max_body: int = 16 * KIB) -> dict[str, Any]:
    """What every signed route declares: no API key, the signature is the guard."""
    guard = lambda request: _signed(request, action)  # noqa: E731
    return {"auth": "none", "guard": guard, "max_body": max_body, "doc": SIGNATURE}


SIGNATURE = Extras(params=signing.AGENT_SIGNATURE)


@routes.post("/agents", auth="creator", ok={201: agents.AgentCreatedView}, errors=(409,))
def register_agent(request: Request, body: agents.RegisterAgent) -> Response:
    """Register an agent (the secret is shown once)"""
    return json_response(201, agents.register(request.tenant, body))


@routes.post(
    "/agents/{agent_id}/heartbeat",
    **signed("heartbeat"),
    ok={200: heartbeats.HeartbeatAcceptedView},
    errors=(401,),
)
def accept_heartbeat(
    request: Request, guarded: Signed, body: heartbeats.HeartbeatFigures
) -> Response:
    """A signed heartbeat (no API key: the agent's HMAC signature authenticates it)

    A timestamp more than 300 s off, a wrong signature or a replayed timestamp answer
    401, and so does an unknown agent id.
    """
    return json_response(200, heartbeats.record(*guarded, body))


@routes.post(
    "/agents/{agent_id}/lease", **signed("lease"), ok={200: lease.LeaseView}, errors=(401, 404)
)
def worker_lease(request: Request, guarded: Signed, body: work.AgentLeaseRequest) -> Response:
    """Lease work as this agent (signed like a heartbeat; no API key)

    As POST /inbox/lease on the named queue (default inbox); the items are held by the
    agent: its heartbeats extend the lease, and its death or deletion releases it at
    once. A dead or deleted agent, a bad signature or a signature used before answer
    401; an unknown queue 404.
    """
    return json_response(200, work.lease(guarded[1], body))


# An ack carries a result of up to 16 KiB.
@routes.post(
    "/agents/{agent_id}/ack",
    **signed("ack", max_body=64 * KIB),
    ok={200: ack.AckResultView},
    errors=(401, 404),
)
def worker_ack(request: Request, guarded: Signed, body: work.AgentAckRequest) -> Response:
    """Acknowledge leased work, optionally with its outcome (signed)

    As POST /inbox/ack with a lease. With an outcome, each acknowledged event gets one
    job.succeeded or job.failed event in the tenant inbox (source dockhand.agents, payload
    event_id, event_type, queue, agent_id, name, attempts, result), exactly once however
    often the ack is retried.
    """
    return json_response(200, work.ack(guarded[1], body))


@routes.post(
    "/agents/{agent_id}/release",
    **signed("release"),
    ok={200: release.ReleaseResultView},
    errors=(401, 404),
)
def worker_release(request: Request, guarded: Signed, body: work.AgentReleaseRequest) -> Response:
    """Give leased work back, optionally after a delay (signed)

    As POST /inbox/release; attempts stay counted.
    """
    return json_response(200, work.release(guarded[1], body))


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


ROUTES = routes.table
handler = http_handler("heartbeat", ROUTES)
