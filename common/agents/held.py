"""The work an agent holds: what ties leases to liveness.

Leases taken through POST /agents/{id}/lease are recorded under their holder (the
triggers area's holder index: one sparse index entry per held item, keyed by tenant
and agent), so without any scan:
* each accepted heartbeat extends every unexpired lease the agent holds by that
  lease's own `lease_seconds` from now (`extend`);
* the sweeper's `dead` transition and DELETE /agents/{id} release the agent's held
  items at once, attempts kept (`release`, bounded per call);
* GET /agents/{id} shows `work`: how many items it holds and since when (`work`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.models import Time

# Items a sweeper run (all dead agents together) or one DELETE releases at most; the
# rest wait for the next run (docs/capacity.md, agents).
RELEASE_BUDGET = 1000


@with_config(ConfigDict(extra="forbid", title="AgentWork"))
class WorkView(TypedDict):
    leased: Annotated[int, Field(ge=0)]
    oldest_leased_at: Time | None


def extend(tenant: str, agent_id: str, now: float) -> int:
    """Extend the agent's unexpired leases; how many items were extended."""
    from common.triggers.inbox import held  # the triggers area owns leases

    return held.extend_held(tenant, agent_id, now)


def release(
    tenant: str, agent_id: str, limit: int = RELEASE_BUDGET, *, by_sweeper: bool = False
) -> int:
    """Release up to `limit` of the agent's held items now; how many were released.

    Counted under two names: a request's metrics carry its route, the sweeper's do
    not, and one metric name has one set of dimensions on the dashboard."""
    from common.runtime import catalogue
    from common.triggers.inbox import held

    released = held.release_held(tenant, agent_id, limit)
    if released:
        if by_sweeper:
            catalogue.count("agent_leases_released_by_sweeper", released)
        else:
            catalogue.count("agent_leases_released", released)
    return released


def work(tenant: str, agent_id: str) -> WorkView:
    from common.triggers.inbox import held

    found = held.held_work(tenant, agent_id)
    return {"leased": found["leased"], "oldest_leased_at": found["oldest_leased_at"]}
