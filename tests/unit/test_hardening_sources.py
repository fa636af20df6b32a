"""Hardening 2, "System sources are reserved": a client's event whose `source` starts
with `dockhand.` is 400 validation_error (issue #25: a creator key posted `agent.dead`
from `dockhand.agents` and the status page showed it as a real alert), while
dockhand's own events (common.triggers.events.system_event_ops: agent alerts,
subscription notices, job outcomes) are still written with such sources."""

from __future__ import annotations

import pytest

from common.runtime import clock
from common.store import transact
from common.triggers import events
from tests.conftest import ApiClient, Keys


@pytest.mark.parametrize(
    "source",
    ["dockhand.agents", "dockhand.delivery", "dockhand.", "dockhand.jobs.x", "Dockhand.Agents"],
)
def test_a_client_may_not_use_a_system_source(api: ApiClient, keys: Keys, source: str) -> None:
    body = {"event_type": "agent.dead", "payload": {"agent_id": "x"}, "source": source}
    result = api.post("/events", key=keys.creator, json_body=body)
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert [d["field"] for d in result.json["error"]["details"]] == ["source"]
    assert api.get("/inbox", key=keys.viewer).json["items"] == []  # nothing stored


@pytest.mark.parametrize("source", ["dockhand", "dockhandx.agents", "ci.dockhand.agents", "my-app"])
def test_other_sources_are_the_clients_own(api: ApiClient, keys: Keys, source: str) -> None:
    body = {"event_type": "build.done", "payload": {}, "source": source}
    result = api.post("/events", key=keys.creator, json_body=body)
    assert result.status == 201, result.text


def test_dockhands_own_events_are_still_written(api: ApiClient, keys: Keys) -> None:
    event_id, items = events.system_event_ops(
        "acme", "job.failed", "dockhand.jobs", {"job": "j1"}, clock.now()
    )
    assert transact.run(items) is None
    stored = api.get(f"/events/{event_id}", key=keys.viewer)
    assert stored.status == 200, stored.text
    assert (stored.json["source"], stored.json["event_type"]) == ("dockhand.jobs", "job.failed")


def test_the_internal_path_only_writes_system_sources(aws: None) -> None:
    with pytest.raises(ValueError, match="dockhand"):
        events.system_event_ops("acme", "x.y", "my-app", {}, clock.now())
