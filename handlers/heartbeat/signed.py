"""The routes an agent signs itself (no API key): heartbeats, and as a worker lease, ack
and release.  The signature authenticates the agent; the route's guard checks it before
the body is read, so an unauthenticated caller learns nothing about what a valid body
looks like."""

from __future__ import annotations

from functools import partial
from typing import Any

from common.agents import heartbeats, signing, work
from common.api import Response, RouteTable
from common.runtime.http import KIB, Request, json_response
from common.runtime.routedoc import Extras
from common.triggers.inbox import ack, lease, release

routes = RouteTable()
SIGNATURE = Extras(params=signing.AGENT_SIGNATURE)
Signed = tuple[signing.SignedRequest, dict[str, Any]]


def _signed(request: Request, action: str) -> Signed:
    """The agent the request is signed by; 401 when it is not (or, for worker calls,
    when the agent is dead or the signature was used before)."""
    signed = signing.check_request(request, action)
    if action == "heartbeat":
        return signed, heartbeats.authenticate(signed)
    return signed, work.authenticate_worker(signed)


def signed_by_agent(action: str, max_body: int = 16 * KIB) -> dict[str, Any]:
    """What every signed route declares: no API key, the signature is its guard."""
    guard = partial(_signed, action=action)
    return {"auth": "none", "guard": guard, "max_body": max_body, "doc": SIGNATURE}


@routes.post(
    "/agents/{agent_id}/heartbeat",
    **signed_by_agent("heartbeat"),
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
    "/agents/{agent_id}/lease",
    **signed_by_agent("lease"),
    ok={200: lease.LeaseView},
    errors=(401, 404),
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
    **signed_by_agent("ack", max_body=64 * KIB),
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
    **signed_by_agent("release"),
    ok={200: release.ReleaseResultView},
    errors=(401, 404),
)
def worker_release(request: Request, guarded: Signed, body: work.AgentReleaseRequest) -> Response:
    """Give leased work back, optionally after a delay (signed)

    As POST /inbox/release; attempts stay counted.
    """
    return json_response(200, work.release(guarded[1], body))
