"""The emulator over HTTP and one representative first request per function, as a
deployed function receives them: shared by the first-response benchmark
(bench/firstresponse.py) and the test that no function's first request imports boto3
(tests/e2e/test_first_request_imports.py).

The emulator is moto's server in this process (as `make run` starts it); the function
runs in a fresh child process with the deployed settings: `DOCKHAND_MASTER_KEY_SECRET_ID`
where infra/permissions.tf grants the master key (as Terraform sets it), never
`DOCKHAND_MASTER_KEY`, and `AWS_ENDPOINT_URL` pointing at the server.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import env, world
from bench.snapshots import hydrate_body

SECRET_ID = "dockhand-bench-master-key"  # noqa: S105 - a secret's name, not its value
THREAD = "fr-thread"
EVENTS_DIR = env.REPO_ROOT / "tests" / "events"

# The child: import the handler (Lambda's init), then answer one event.  Times from its
# first statement; which boto3/s3transfer modules it ended up with.
CHILD = """
import time
_t0 = time.perf_counter_ns()
import importlib, json, sys
_handler = getattr(importlib.import_module({module!r}), {attr!r})
_t1 = time.perf_counter_ns()
class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10000
_response = _handler(json.loads({event!r}), _Context())
_t2 = time.perf_counter_ns()
_roots = ("boto3", "s3transfer")
_loaded = sorted(m for m in sys.modules if m.split(".")[0] in _roots)
_status = _response.get("statusCode") if isinstance(_response, dict) else None
_secrets = sys.modules.get("common.store.secrets")
_read = bool(getattr(_secrets, "_master", None))
_bcrypt = getattr(sys.modules.get("common.access.auth"), "verification_count", None)
print(json.dumps({{"init_ns": _t1 - _t0, "first_ns": _t2 - _t0, "status": _status,
                  "boto3": _loaded, "master_key_read": _read, "bcrypt_checks": _bcrypt}}))
"""


def child_script(handler: str, event: dict[str, Any]) -> str:
    module, _, attr = handler.rpartition(".")
    return CHILD.format(module=module, attr=attr, event=json.dumps(event))


def child_result(stdout: str) -> dict[str, Any]:
    """The child's figures: its last line (a function's own logs may come before)."""
    lines = [line for line in stdout.splitlines() if line.startswith('{"init_ns"')]
    if not lines:
        raise ValueError("the child printed no result")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass(frozen=True)
class Scenario:
    """A function's representative first request.  `auth`: it presents an API key (so
    the key's bcrypt cost matters: a cold container verifies it once, its cache empty)."""

    function: str
    label: str
    auth: bool
    build: Callable[[str], dict[str, Any]]  # API key -> a fresh event


def deployed_env(base: dict[str, str], endpoint: str, master_key: bool) -> dict[str, str]:
    """A function's environment as Terraform gives it, on the emulator."""
    variables = {k: v for k, v in base.items() if k != "DOCKHAND_MASTER_KEY"}
    variables["AWS_ENDPOINT_URL"] = endpoint
    variables.pop("DOCKHAND_MASTER_KEY_SECRET_ID", None)
    if master_key:
        variables["DOCKHAND_MASTER_KEY_SECRET_ID"] = SECRET_ID
    return variables


@contextmanager
def emulator() -> Iterator[str]:
    """moto's server on a free port with dockhand's tables and bucket, the baseline's
    table and the master key secret; yields its endpoint.  This process's clients use
    it meanwhile (AWS_ENDPOINT_URL), and forget it afterwards."""
    from moto.server import ThreadedMotoServer

    from tools.local.coldstate import reset_runtime
    from tools.local.emulator import make_dynamodb_safe

    for noisy in ("werkzeug", "moto"):  # one access-log line per AWS call otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    make_dynamodb_safe()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    reset_runtime()
    try:
        _create_resources()
        yield endpoint
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        reset_runtime()
        server.stop()


def _create_resources() -> None:
    from common.store import aws

    world.create_tables()
    aws.client("secretsmanager").create_secret(
        Name=SECRET_ID, SecretString=os.environ["DOCKHAND_MASTER_KEY"]
    )


def create_key(rounds: int) -> str:
    """A creator key of the bench tenant whose hash has bcrypt cost `rounds`, whatever
    cost new keys get (`auth.BCRYPT_COST`): 4 for keys made now, 12 for keys made
    before the hardening work, which keep their hash and verify at its cost."""
    from common.access import auth

    previous = auth.BCRYPT_COST
    auth.BCRYPT_COST = rounds
    try:
        return str(auth.create_key(world.TENANT, "creator")["api_key"])
    finally:
        auth.BCRYPT_COST = previous


def _ok(response: dict[str, Any]) -> dict[str, Any]:
    if response["statusCode"] >= 300:
        raise RuntimeError(f"bench setup failed: {response['statusCode']} {response['body']}")
    body: dict[str, Any] = world.body_of(response)
    return body


def prepare(api_key: str) -> dict[str, str]:
    """What the representative requests read: a second inbox page, a second notes page,
    a snapshot to rehydrate, a registered agent."""
    for n in range(3):
        _ok(world.call("POST", "/events", key=api_key, json_body=_event(f"setup-{n}")))
    inbox = _ok(world.call("GET", "/inbox", key=api_key, query={"limit": "1"}))
    for n in range(2):
        note = {"thread_id": THREAD, "text": f"note {n}"}
        _ok(world.call("POST", "/notes", key=api_key, json_body=note))
    notes = _ok(world.call("GET", "/notes", key=api_key, query={"thread_id": THREAD, "limit": "1"}))
    _ok(world.call("POST", "/hydrate", key=api_key, json_body=hydrate_body(50, THREAD)))
    agent = _ok(world.call("POST", "/agents", key=api_key, json_body={"name": "fr-agent"}))
    return {
        "inbox_cursor": str(inbox["next_cursor"]),
        "notes_cursor": str(notes["next_cursor"]),
        "agent_id": str(agent["agent_id"]),
        "agent_secret": str(agent["secret"]),
    }


def _event(tag: str) -> dict[str, Any]:
    return {"event_type": "bench.first", "payload": {"tag": tag, "at": time.time_ns()}}


def _sample(name: str) -> Callable[[str], dict[str, Any]]:
    def build(_: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
        return loaded

    return build


def _heartbeat(ids: dict[str, str]) -> Callable[[str], dict[str, Any]]:
    def build(_: str) -> dict[str, Any]:
        return world.heartbeat_event(ids["agent_id"], ids["agent_secret"])

    return build


def scenarios(ids: dict[str, str]) -> dict[str, Scenario]:
    """One representative request per function in infra/functions.tf."""
    found = [*_route_scenarios(ids), *_background_scenarios()]
    return {s.function: s for s in found}


def _post_event(key: str) -> dict[str, Any]:
    return world.build("POST", "/events", key=key, json_body=_event(str(time.time_ns())))


def _mcp_tools_call(key: str) -> dict[str, Any]:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_threads", "arguments": {"limit": 5}},
    }
    headers = {"accept": "application/json, text/event-stream"}
    headers["mcp-protocol-version"] = "2025-06-18"
    return world.build("POST", "/mcp", key=key, json_body=call, headers=headers)


def _route_scenarios(ids: dict[str, str]) -> list[Scenario]:
    """The functions behind routes (`auth`: the route takes an API key)."""

    def get(path: str, **query: str) -> Callable[[str], dict[str, Any]]:
        return lambda k: world.build("GET", path, key=k, query=query)

    return [
        Scenario("events", "POST /events", True, _post_event),
        Scenario(
            "inbox",
            "GET /inbox (cursor)",
            True,
            lambda k: world.build(
                "GET", "/inbox", key=k, query={"limit": "1", "cursor": ids["inbox_cursor"]}
            ),
        ),
        Scenario(
            "notes",
            "GET /notes (cursor)",
            True,
            lambda k: world.build(
                "GET",
                "/notes",
                key=k,
                query={"thread_id": THREAD, "limit": "1", "cursor": ids["notes_cursor"]},
            ),
        ),
        Scenario(
            "hydrate",
            "POST /hydrate (50 files)",
            True,
            lambda k: world.build("POST", "/hydrate", key=k, json_body=hydrate_body(50, THREAD)),
        ),
        Scenario("rehydrate", "GET /rehydrate", True, get("/rehydrate", thread_id=THREAD)),
        Scenario("mcp", "POST /mcp tools/call", True, _mcp_tools_call),
        Scenario("heartbeat", "POST /agents/{id}/heartbeat (signed)", False, _heartbeat(ids)),
        Scenario("status", "GET /status", False, lambda k: world.build("GET", "/status")),
        Scenario("subscriptions", "GET /subscriptions", True, get("/subscriptions", limit="20")),
    ]


def _background_scenarios() -> list[Scenario]:
    """The functions no route reaches: scheduled, or fed by a stream or a queue."""
    return [
        Scenario("sweeper", "scheduled run", False, _sample("sweeper_scheduled.json")),
        Scenario("rollup", "scheduled run", False, _sample("rollup_scheduled.json")),
        Scenario("retry", "scheduled run", False, _sample("retry_scheduled.json")),
        Scenario("dispatch", "stream record", False, _sample("dispatch_stream.json")),
        Scenario("deliver", "SQS record", False, _sample("deliver_sqs.json")),
    ]


BASELINE = Scenario("baseline", "POST /events", True, _post_event)
