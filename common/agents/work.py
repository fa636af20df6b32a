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

import contextlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from common.agents import heartbeats, layout
from common.agents.signing import TIMESTAMP_TOLERANCE_SECONDS, SignedRequest, refuse
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import NotFound
from common.runtime.slug import Slug
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers import layout as triggers_layout
from common.triggers import queues
from common.triggers.inbox import ack as acks
from common.triggers.inbox import changes
from common.triggers.inbox import lease as leases
from common.triggers.inbox import release as releases
from common.triggers.inbox.place import Place

MAX_RESULT_BYTES = 16 * 1024
Outcome = Literal["succeeded", "failed"]


# ---------------------------------------------------------------- request models


class AgentLeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: Slug = triggers_layout.INBOX
    limit: leases.Limit = 10
    lease_seconds: leases.LeaseSeconds = 300
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class AgentAckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: acks.LeaseId
    event_ids: acks.EventIds | None = None
    outcome: Outcome | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="Any JSON object of at most 16 KiB; needs an outcome."
    )
    queue: Slug | None = Field(
        default=None,
        description="The lease's queue; by default the queue the lease id belongs to.",
    )

    @model_validator(mode="after")
    def _result_needs_outcome(self) -> AgentAckRequest:
        if self.result is not None and self.outcome is None:
            # Otherwise the result would be dropped silently: it only travels in the
            # outcome event.
            raise PydanticCustomError("result_needs_outcome", "a result needs an outcome")
        return self

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

    lease_id: acks.LeaseId
    event_ids: acks.EventIds | None = None
    delay_seconds: releases.DelaySeconds = 0
    queue: Slug | None = Field(
        default=None,
        description="The lease's queue; by default the queue the lease id belongs to.",
    )


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


# ---------------------------------------------------------------- work


def lease(agent: dict[str, Any], body: AgentLeaseRequest) -> leases.LeaseView:
    """As POST /inbox/lease on the queue, the items held by this agent."""
    place = queues.place_of(str(agent["tenant"]), body.queue)
    if not agent.get(heartbeats.WORKER_MARK):
        _mark_worker(agent)
    return leases.lease(
        place, body.limit, body.lease_seconds, body.event_type, holder=str(agent["agent_id"])
    )


def _mark_worker(agent: dict[str, Any]) -> None:
    """Once per agent, before its first lease: from now on its heartbeats extend what it
    holds (agents that never lease skip that Query)."""
    with contextlib.suppress(dynamo.ConditionFailed):  # deleted meanwhile: the lease holds
        dynamo.update(
            settings().agents_table,
            layout.agent_key(str(agent["tenant"]), str(agent["agent_id"])),
            "SET #worker = :yes",
            condition="attribute_exists(#pk)",
            names={"#worker": heartbeats.WORKER_MARK, "#pk": PK},
            values={":yes": True},
        )


def ack(agent: dict[str, Any], body: AgentAckRequest) -> acks.AckResultView:
    """As POST /inbox/ack with a lease; with an outcome, one job event per acknowledged
    event (common.agents.jobs)."""
    from common.agents import jobs

    place = _place_of_lease(str(agent["tenant"]), body.queue, body.lease_id)
    answer = acks.acknowledge_lease(place, body.lease_id, body.event_ids)
    if body.outcome is not None:
        jobs.publish(
            place,
            agent=agent,
            event_ids=answer["acknowledged"],
            outcome=body.outcome,
            result=body.result,
        )
    return answer


def release(agent: dict[str, Any], body: AgentReleaseRequest) -> releases.ReleaseResultView:
    """As POST /inbox/release."""
    place = _place_of_lease(str(agent["tenant"]), body.queue, body.lease_id)
    return releases.release(place, body.lease_id, body.event_ids, body.delay_seconds)


def _place_of_lease(tenant: str, queue: str | None, lease_id: str) -> Place:
    """The queue named, else the one the lease id belongs to: ids are bound to their
    queue, so at most one of the tenant's queues accepts it (checked in memory: the
    inbox first, then the named queues, one Query of at most MAX_QUEUES of them)."""
    if queue is not None:
        return queues.place_of(tenant, queue)
    candidates = [Place(tenant)]
    if not _accepts(candidates[0], lease_id):
        candidates = [q.place for q in queues.of_tenant(tenant)]
    for place in candidates:
        if _accepts(place, lease_id):
            return place
    raise NotFound("No such lease.")


def _accepts(place: Place, lease_id: str) -> bool:
    try:
        changes.lease_ulid(place, lease_id)
    except NotFound:
        return False
    return True
