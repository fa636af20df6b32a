"""Agents as workers: a registered agent leases, acknowledges and releases work under
its own signed identity (POST /agents/{agent_id}/lease|ack|release).

Authentication is the heartbeat's (signing, heartbeats.authenticate), plus two rules:
* a dead agent is refused like a deleted one (401): it recovers by heartbeating first;
* each signature is accepted once.  A worker signs its lease, ack and release while its
  heartbeat thread signs beats, so "newer than the last timestamp" would refuse one of
  two parallel calls.  Instead a conditional put of the signature's digest (agents
  table, `T#<tenant>#SIG#<digest>`, TTL = the end of the 300 s tolerance window of its
  timestamp) admits the first copy and refuses every repeat.  One PutItem per call.

The leases themselves are the triggers area's (common.triggers.inbox), held by the
agent (`holder`), so a heartbeat extends them and a dead or deleted agent's are
released at once (common.agents.jobs for acks with an outcome).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from common.agents import heartbeats, layout
from common.agents.signing import TIMESTAMP_TOLERANCE_SECONDS, SignedRequest, refuse
from common.runtime import clock
from common.runtime.config import settings
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers import inbox

MAX_RESULT_BYTES = 16 * 1024
QueueName = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Outcome = Literal["succeeded", "failed"]


# ---------------------------------------------------------------- request models


class AgentLeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName = "inbox"
    limit: inbox.Limit = 10
    lease_seconds: inbox.LeaseSeconds = 300
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class AgentAckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: inbox.LeaseId
    event_ids: inbox.EventIds | None = None
    outcome: Outcome | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="Any JSON object of at most 16 KiB; needs an outcome."
    )
    queue: QueueName | None = None

    @field_validator("result")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_RESULT_BYTES:
                raise ValueError(f"at most {MAX_RESULT_BYTES} bytes as JSON (this is {size})")
        return value


class AgentReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: inbox.LeaseId
    event_ids: inbox.EventIds | None = None
    delay_seconds: inbox.DelaySeconds = 0
    queue: QueueName | None = None


# ---------------------------------------------------------------- authentication


def signature_key(tenant: str, digest: str) -> dict[str, str]:
    return {PK: f"T#{tenant}#SIG#{digest}", SK: "SIG"}


def authenticate_worker(signed: SignedRequest) -> dict[str, Any]:
    """The live agent a worker call is signed for; 401 for an unknown, deleted or dead
    agent, a bad signature, or a signature already used."""
    agent = heartbeats.authenticate(signed)
    if agent.get("status") == "dead":
        raise refuse("dead_agent", signed.agent_id)
    _use_once(signed)
    return agent


def _use_once(signed: SignedRequest) -> None:
    """Admit this signature once: a conditional put of its digest that lives as long as
    its timestamp is inside the tolerance window (expired copies count as absent, since
    TTL deletes lazily)."""
    now = clock.now()
    window_end = signed.timestamp_ms // 1000 + TIMESTAMP_TOLERANCE_SECONDS + 1
    item = {
        **signature_key(signed.tenant, signed.digest),
        "agent_id": signed.agent_id,
        TTL_ATTRIBUTE: window_end,
    }
    try:
        dynamo.put(
            settings().agents_table,
            item,
            condition="attribute_not_exists(#pk) OR #exp < :now",
            names={"#pk": PK, "#exp": TTL_ATTRIBUTE},
            values={":now": int(now)},
        )
    except dynamo.ConditionFailed:
        raise refuse("signature_replay", signed.agent_id) from None


def agent_name(agent: dict[str, Any]) -> str:
    return str(layout.registration(agent)["name"])


# ---------------------------------------------------------------- work


def lease(agent: dict[str, Any], body: AgentLeaseRequest) -> inbox.LeaseView:
    """As POST /inbox/lease, the items held by this agent."""
    tenant = str(agent["tenant"])
    _known_queue(body.queue)
    return inbox.lease(tenant, body.limit, body.lease_seconds, body.event_type)


def ack(agent: dict[str, Any], body: AgentAckRequest) -> inbox.AckResultView:
    """As POST /inbox/ack with a lease; with an outcome, one job event per acknowledged
    event (common.agents.jobs)."""
    from common.agents import jobs

    tenant = str(agent["tenant"])
    queue = body.queue or "inbox"
    _known_queue(queue)
    answer = inbox.acknowledge_lease(tenant, body.lease_id, body.event_ids)
    if body.outcome is not None:
        jobs.publish(
            tenant,
            agent=agent,
            queue=queue,
            event_ids=answer["acknowledged"],
            outcome=body.outcome,
            result=body.result,
        )
    return answer


def release(agent: dict[str, Any], body: AgentReleaseRequest) -> inbox.ReleaseResultView:
    """As POST /inbox/release."""
    tenant = str(agent["tenant"])
    _known_queue(body.queue or "inbox")
    return inbox.release(tenant, body.lease_id, body.event_ids, body.delay_seconds)


def _known_queue(queue: str) -> None:
    from common.runtime.errors import NotFound

    if queue != "inbox":
        raise NotFound("No such queue.")
