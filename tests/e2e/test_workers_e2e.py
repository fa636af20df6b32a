"""Agents as workers over real HTTP, on a gateway of their own (the sweeper runs with
its clock moved ahead, which must not touch other tests' agents): concurrent workers
never share a job, a killed worker's jobs come back at once when its agent is deleted
or marked dead, one outcome event per acknowledged job, replays refused, and a fleet
of two `dockhand agent run` processes draining a named queue."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import sweep_at
from tests.e2e.conftest import DOCKHAND_CLI, Gateway, HttpResult, start_gateway, stop_gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workers_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = start_gateway(
        tmp_path_factory.mktemp("workers"),
        {"DOCKHAND_RATE_LIMIT_REQUESTS": "100000"},
    )
    yield running
    code = stop_gateway(running)
    assert code == 0, f"gateway exited with {code}:\n{running.log()}"


def signed_call(
    gateway: Gateway, agent: dict[str, Any], action: str, body: dict[str, Any], stamp: str = ""
) -> HttpResult:
    """POST /agents/{id}/{action} signed as any worker would, with a ms timestamp."""
    data = json.dumps(body).encode()
    stamp = stamp or f"{time.time():.3f}"
    path = f"/agents/{agent['agent_id']}/{action}"
    message = f"{stamp}\nPOST\n{path}\n{hashlib.sha256(data).hexdigest()}"
    digest = hmac.new(agent["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Agent-Timestamp": stamp,
        "X-Agent-Signature": f"v1={digest}",
    }
    return gateway.http("POST", path, headers=headers, data=data)


FIGURES = {
    "cpu_percent": 1,
    "memory_percent": 2,
    "disk_percent": 3,
    "jobs_queued": 0,
    "jobs_completed": 0,
    "uptime_seconds": 1,
}


def register(gateway: Gateway, key: str, name: str, interval: int = 30) -> dict[str, Any]:
    made = gateway.http(
        "POST", "/agents", key, {"name": name, "heartbeat_interval_seconds": interval}
    )
    assert made.status == 201, made.body
    agent: dict[str, Any] = made.json
    return agent


def post_jobs(gateway: Gateway, key: str, count: int, event_type: str) -> list[str]:
    made = []
    for n in range(count):
        result = gateway.http(
            "POST", "/events", key, {"event_type": event_type, "payload": {"n": n}}
        )
        assert result.status == 201, result.body
        made.append(str(result.json["event_id"]))
    return made


def job_events(gateway: Gateway, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for event_type in ("job.succeeded", "job.failed"):
        page = gateway.http("GET", f"/inbox?event_type={event_type}&limit=200", key)
        found += page.json["items"]
    return found


def test_concurrent_workers_never_share_a_job_and_each_ack_makes_one_event(
    workers_gateway: Gateway,
) -> None:
    gateway = workers_gateway
    key = gateway.create_key("fleet", "creator")
    jobs = post_jobs(gateway, key, 24, "fleet.job")
    agents = [register(gateway, key, f"fleet-{n}") for n in range(4)]
    done: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(agent: dict[str, Any]) -> None:
        while True:
            leased = signed_call(
                gateway,
                agent,
                "lease",
                {"limit": 3, "lease_seconds": 60, "event_type": "fleet.job"},
            )
            assert leased.status == 200, leased.body
            items = leased.json["items"]
            if not items:
                return
            body = {
                "lease_id": leased.json["lease_id"],
                "outcome": "succeeded",
                "result": {"by": agent["name"]},
            }
            acked = signed_call(gateway, agent, "ack", body)
            assert acked.status == 200, acked.body
            assert acked.json["lease_lost"] == []
            with lock:
                done.extend((str(i), agent["name"]) for i in acked.json["acknowledged"])

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    counted = Counter(event_id for event_id, _ in done)
    assert sorted(counted) == sorted(jobs)
    assert set(counted.values()) == {1}  # no job was delivered twice
    outcomes = job_events(gateway, key)
    assert sorted(e["payload"]["event_id"] for e in outcomes) == sorted(jobs)
    by = {e["payload"]["event_id"]: e["payload"]["result"]["by"] for e in outcomes}
    assert by == dict(done)
    assert all(e["source"] == "dockhand.agents" for e in outcomes)
    stats = gateway.http("GET", "/stats", key).json
    assert stats["jobs_succeeded"] == 24


def test_replays_ms_timestamps_and_dead_or_deleted_agents(workers_gateway: Gateway) -> None:
    gateway = workers_gateway
    key = gateway.create_key("replays", "creator")
    agent = register(gateway, key, "replayer")
    stamp = f"{time.time():.3f}"
    assert signed_call(gateway, agent, "lease", {"limit": 1}, stamp).status == 200
    replay = signed_call(gateway, agent, "lease", {"limit": 1}, stamp)
    assert replay.status == 401
    assert replay.error_code == "unauthorized"
    assert gateway.http("DELETE", f"/agents/{agent['agent_id']}", key).status == 204
    assert signed_call(gateway, agent, "lease", {"limit": 1}).status == 401
    assert signed_call(gateway, agent, "ack", {"lease_id": "x"}).status == 401


def _heartbeat(gateway: Gateway, agent: dict[str, Any]) -> int:
    return signed_call(gateway, agent, "heartbeat", FIGURES).status


def test_killed_workers_jobs_return_at_once_when_deleted(workers_gateway: Gateway) -> None:
    gateway = workers_gateway
    key = gateway.create_key("killed", "creator")
    jobs = post_jobs(gateway, key, 3, "killed.job")
    doomed, rescuer = register(gateway, key, "doomed"), register(gateway, key, "rescuer")
    held = signed_call(gateway, doomed, "lease", {"limit": 3, "lease_seconds": 3600})
    assert [i["event_id"] for i in held.json["items"]] == jobs
    shown = gateway.http("GET", f"/agents/{doomed['agent_id']}", key).json
    assert shown["work"]["leased"] == 3
    assert shown["work"]["oldest_leased_at"] is not None
    # The worker dies mid-job (it simply stops calling); nobody else can take its jobs...
    assert signed_call(gateway, rescuer, "lease", {"limit": 3}).json["items"] == []
    # ...until its agent is deleted: they come back at once, attempts counted.
    assert gateway.http("DELETE", f"/agents/{doomed['agent_id']}", key).status == 204
    again = signed_call(gateway, rescuer, "lease", {"limit": 3}).json["items"]
    assert [(i["event_id"], i["attempts"]) for i in again] == [(j, 2) for j in jobs]


def test_killed_workers_jobs_return_at_once_when_marked_dead(workers_gateway: Gateway) -> None:
    gateway = workers_gateway
    key = gateway.create_key("dead", "creator")
    jobs = post_jobs(gateway, key, 2, "dead.job")
    silent = register(gateway, key, "silent", interval=10)
    rescuer = register(gateway, key, "rescuer", interval=3600)
    held = signed_call(gateway, silent, "lease", {"limit": 2, "lease_seconds": 3600})
    assert len(held.json["items"]) == 2
    # A heartbeat extends what it holds (each lease by its own lease_seconds from now).
    assert _heartbeat(gateway, silent) == 200
    swept = sweep_at(gateway, 20 * 10 + 30)  # 20 silent intervals later: dead
    assert swept["marked_dead"] >= 1
    assert swept["released"] >= 2
    assert gateway.http("GET", f"/agents/{silent['agent_id']}", key).json["status"] == "dead"
    assert gateway.http("GET", f"/agents/{silent['agent_id']}", key).json["work"]["leased"] == 0
    # Released, not waiting out the hour's lease.  (The sweeper ran with its clock 230 s
    # ahead, so the items are available from that moment: the listing shows them unleased.)
    listed = gateway.http("GET", "/inbox?event_type=dead.job", key).json["items"]
    assert sorted(i["event_id"] for i in listed) == sorted(jobs)
    assert [i["leased_until"] for i in listed] == [None, None]
    assert [i["attempts"] for i in listed] == [1, 1]
    assert signed_call(gateway, rescuer, "lease", {"limit": 2}).status == 200
    # A dead agent's work calls are refused until a heartbeat recovers it.
    assert signed_call(gateway, silent, "lease", {"limit": 1}).status == 401


def test_a_fleet_of_two_agent_run_processes_drains_a_queue(
    workers_gateway: Gateway, tmp_path: Path
) -> None:
    """The README's fleet: two `dockhand agent run` on the queue `builds`."""
    gateway = workers_gateway
    key = gateway.create_key("readme", "creator")
    made = gateway.http("POST", "/queues", key, {"name": "builds", "event_types": ["build.*"]})
    assert made.status == 201, made.body
    jobs = post_jobs(gateway, key, 6, "build.requested")
    deadline = time.monotonic() + 10
    while gateway.http("GET", "/queues/builds", key).json["pending"] < 6:
        assert time.monotonic() < deadline, "the queue did not fill within 10 s"
        time.sleep(0.2)
    env = {**gateway.env, "DOCKHAND_API_KEY": key}
    command = (
        'python3 -c \'import json,sys; e=json.load(sys.stdin); print("built", e["payload"]["n"])\''
    )
    workers = [
        subprocess.Popen(
            [*DOCKHAND_CLI, "agent", "run", "--name", f"builder-{n}", "--queue", "builds",
             "--exec", command, "--until-empty", "--poll-seconds", "0.2"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in (1, 2)
    ]  # fmt: skip
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    outcomes = [e for e in job_events(gateway, key) if e["payload"]["queue"] == "builds"]
    assert sorted(e["payload"]["event_id"] for e in outcomes) == sorted(jobs)
    assert {e["payload"]["result"]["exit_code"] for e in outcomes} == {0}
    assert {e["payload"]["result"]["output"] for e in outcomes} == {f"built {n}" for n in range(6)}
    assert (tmp_path / ".dockhand-agent-builder-1.json").exists()
    assert gateway.http("GET", "/queues/builds", key).json["pending"] == 0
    # The tenant inbox still has every build event: the queue had its own copy.
    assert gateway.http("GET", "/inbox?event_type=build.requested", key).json["items"]


def test_agent_run_releases_held_work_on_ctrl_c(workers_gateway: Gateway, tmp_path: Path) -> None:
    gateway = workers_gateway
    key = gateway.create_key("ctrlc", "creator")
    jobs = post_jobs(gateway, key, 1, "slow.job")
    env = {**gateway.env, "DOCKHAND_API_KEY": key}
    worker = subprocess.Popen(
        [*DOCKHAND_CLI, "agent", "run", "--name", "slowpoke", "--event-type", "slow.job",
         "--exec", "echo started; sleep 60"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    agent_id = None
    while time.monotonic() < deadline:
        state = tmp_path / ".dockhand-agent-slowpoke.json"
        if state.exists():
            agent_id = json.loads(state.read_text())["agent_id"]
            work = gateway.http("GET", f"/agents/{agent_id}", key).json["work"]
            if work["leased"] == 1:
                break
        time.sleep(0.2)
    else:
        worker.kill()
        pytest.fail(f"the worker never held the job: {worker.communicate()}")
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "released 1 jobs still held" in err
    assert gateway.http("GET", f"/agents/{agent_id}", key).json["work"]["leased"] == 0
    leased = gateway.http("POST", "/inbox/lease", key, {"event_type": "slow.job"}).json
    assert [(i["event_id"], i["attempts"]) for i in leased["items"]] == [(jobs[0], 2)]


def test_a_named_queues_lease_is_acked_without_naming_the_queue(workers_gateway: Gateway) -> None:
    """Lease ids are bound to their queue: the ack finds it from the id (the contract's
    ack body has no queue)."""
    gateway = workers_gateway
    key = gateway.create_key("named", "creator")
    assert gateway.http("POST", "/queues", key, {"name": "deploys"}).status == 201
    [job] = post_jobs(gateway, key, 1, "deploy.requested")
    deadline = time.monotonic() + 10
    while gateway.http("GET", "/queues/deploys", key).json["pending"] < 1:
        assert time.monotonic() < deadline, "the queue did not fill within 10 s"
        time.sleep(0.2)
    agent = register(gateway, key, "deployer")
    leased = signed_call(gateway, agent, "lease", {"queue": "deploys"}).json
    assert [i["event_id"] for i in leased["items"]] == [job]
    body = {"lease_id": leased["lease_id"], "outcome": "failed", "result": {"exit_code": 2}}
    acked = signed_call(gateway, agent, "ack", body)
    assert acked.status == 200, acked.body
    assert acked.json["acknowledged"] == [job]
    [outcome] = job_events(gateway, key)
    assert outcome["event_type"] == "job.failed"
    assert outcome["payload"]["queue"] == "deploys"
    assert outcome["payload"]["attempts"] == 1
    # The inbox copy of the same event is untouched by the queue's ack.
    assert [
        i["event_id"]
        for i in gateway.http("GET", "/inbox?event_type=deploy.requested", key).json["items"]
    ] == [job]
    unknown = signed_call(
        gateway, agent, "release", {"lease_id": "01ARZ3NDEKTSV4RRFFQ69G5FAVAAAAAAAAAAAAAAAA"}
    )
    assert unknown.status == 404


def test_racing_acks_of_one_job_make_one_outcome(workers_gateway: Gateway) -> None:
    """The same ack sent twice at once (a client retrying over a slow network): one
    outcome event, whichever copy commits the acknowledgement."""
    gateway = workers_gateway
    key = gateway.create_key("racing", "creator")
    jobs = post_jobs(gateway, key, 3, "race.job")
    agent = register(gateway, key, "racer")
    lease_id = signed_call(gateway, agent, "lease", {"limit": 3}).json["lease_id"]
    answers: list[HttpResult] = []

    def ack(n: int) -> None:
        # Each retry is signed anew: its own timestamp, so its own signature.
        stamp = f"{time.time() + n / 1000:.3f}"
        body = {"lease_id": lease_id, "outcome": "succeeded", "result": {"ok": True}}
        answers.append(signed_call(gateway, agent, "ack", body, stamp))

    threads = [threading.Thread(target=ack, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status for a in answers] == [200] * 4
    assert all(sorted(a.json["acknowledged"]) == sorted(jobs) for a in answers)
    outcomes = job_events(gateway, key)
    assert sorted(e["payload"]["event_id"] for e in outcomes) == sorted(jobs)
    assert gateway.http("GET", "/stats", key).json["jobs_succeeded"] == 3
