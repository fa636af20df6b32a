"""Push delivery against the local gateway (`make run`), over real HTTP: a receiver on
loopback, every delivery verified with the Standard Webhooks reference library.

Its own gateway (module scope): retries divided by 36000 (every retry after 1 s), so
a failing receiver goes through the whole schedule in seconds."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e import conftest as e2e
from tests.unit.delivery_support import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[e2e.Gateway]:
    original = e2e.gateway_env

    def env(port: int, state_dir: Path) -> dict[str, str]:
        return {**original(port, state_dir), "DOCKHAND_RETRY_DIVISOR": "36000"}

    e2e.gateway_env = env  # type: ignore[assignment]
    try:
        running = e2e.start_gateway(tmp_path_factory.mktemp("delivery"))
    finally:
        e2e.gateway_env = original  # type: ignore[assignment]
    yield running
    assert e2e.stop_gateway(running) == 0, running.log()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def tenant(gateway: e2e.Gateway) -> str:
    return gateway.create_key(f"t{time.time_ns()}", "creator")


def subscribe(gateway: e2e.Gateway, key: str, url: str, **fields: Any) -> dict[str, Any]:
    result = gateway.http("POST", "/subscriptions", key, {"url": url, **fields})
    assert result.status == 201, result.body
    return dict(result.json)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        # 5 polls a second: a faster poll of a 35 s wait would meet the key's rate limit
        # (600 requests a minute) and read a 429 instead of the deliveries.
        time.sleep(0.2)
    raise AssertionError("timed out")


def deliveries(gateway: e2e.Gateway, key: str, sub: dict[str, Any]) -> list[dict[str, Any]]:
    result = gateway.http("GET", f"/subscriptions/{sub['subscription_id']}/deliveries", key)
    assert result.status == 200, result.body
    return list(result.json["items"])


def test_banner_says_delivery_is_on_with_loopback_targets(gateway: e2e.Gateway) -> None:
    log = gateway.log()
    assert "delivery   on" in log
    assert "http://127.0.0.1:<port>" in log


def test_delivery_starts_within_2_s_of_the_201_and_verifies(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    sub = subscribe(gateway, tenant, receiver.url())
    latencies = []
    for n in range(5):
        created = gateway.http(
            "POST", "/events", tenant, {"event_type": "order.created", "payload": {"n": n}}
        )
        answered = time.time()
        assert created.status == 201
        wait_for(lambda n=n: len(receiver.received) == n + 1, timeout=5)
        latencies.append(receiver.received[-1].at - answered)
        payload = Webhook(sub["secret"]).verify(
            receiver.received[-1].body, receiver.received[-1].headers
        )
        assert payload["data"]["event_id"] == created.json["event_id"]
    assert max(latencies) < 2.0, latencies
    shown = [round(x * 1000) for x in latencies]
    print(f"201 -> receipt: max {max(shown)} ms, all {shown}")


def test_5xx_then_2xx_is_retried_and_logged(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (500 if n == 0 else 200, 0.0)
    sub = subscribe(gateway, tenant, receiver.url())
    gateway.http("POST", "/events", tenant, {"event_type": "t", "payload": {}})
    wait_for(lambda: len(receiver.received) == 2)
    for got in receiver.received:
        Webhook(sub["secret"]).verify(got.body, got.headers)
    wait_for(lambda: len(deliveries(gateway, tenant, sub)) == 2)
    log = deliveries(gateway, tenant, sub)
    assert [(a["attempt"], a["status_code"]) for a in log] == [(2, 200), (1, 500)]


def test_410_gone_disables_the_subscription_at_once(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (410, 0.0)
    sub = subscribe(gateway, tenant, receiver.url())
    gateway.http("POST", "/events", tenant, {"event_type": "t", "payload": {}})
    path = f"/subscriptions/{sub['subscription_id']}"
    wait_for(lambda: gateway.http("GET", path, tenant).json["status"] == "disabled")
    inbox = gateway.http("GET", "/inbox?event_type=subscription.disabled", tenant).json
    assert [i["payload"]["reason"] for i in inbox["items"]] == ["gone"]
    time.sleep(2)  # retries come after 1 s here: none does
    assert len(receiver.received) == 1


def test_429_with_retry_after_waits_at_least_that(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (429 if n == 0 else 200, 0.0)
    receiver.answer_headers = lambda path, n: {"Retry-After": "3"} if n == 0 else {}
    subscribe(gateway, tenant, receiver.url())
    gateway.http("POST", "/events", tenant, {"event_type": "t", "payload": {}})
    wait_for(lambda: len(receiver.received) == 2, timeout=15)
    first, second = receiver.received
    assert second.at - first.at >= 2.9  # the schedule alone says 1 s here


def test_redirects_are_not_followed_and_refused_connections_are_recorded(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (307, 0.0)
    moved = subscribe(gateway, tenant, receiver.url("/moved"), event_types=["r.*"])
    closed = subscribe(gateway, tenant, "http://127.0.0.1:9/nothing", event_types=["r.*"])
    gateway.http("POST", "/events", tenant, {"event_type": "r.x", "payload": {}})
    wait_for(lambda: deliveries(gateway, tenant, moved) and deliveries(gateway, tenant, closed))
    assert deliveries(gateway, tenant, moved)[-1]["status_code"] == 307
    assert receiver.on("/elsewhere") == []
    assert deliveries(gateway, tenant, closed)[-1]["error"] == "connect_error"


def test_a_slow_receiver_times_out_after_15_s(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (200, 16.0 if n == 0 else 0.0)
    sub = subscribe(gateway, tenant, receiver.url("/slow"))
    gateway.http("POST", "/events", tenant, {"event_type": "t", "payload": {}})
    wait_for(lambda: bool(deliveries(gateway, tenant, sub)), timeout=25)
    first = deliveries(gateway, tenant, sub)[-1]
    assert first["error"] == "timeout"
    assert 14_000 <= first["duration_ms"] <= 16_500
    wait_for(lambda: deliveries(gateway, tenant, sub)[0]["status_code"] == 200, timeout=10)


def test_listen_forwards_signed_events_and_acknowledges_them(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    created = [
        gateway.http(
            "POST", "/events", tenant, {"event_type": "build.done", "payload": {"n": n}}
        ).json
        for n in range(3)
    ]
    env = {**gateway.env, "DOCKHAND_API_KEY": tenant}
    completed = subprocess.run(
        [*e2e.DOCKHAND_CLI, "listen", "--forward", receiver.url("/dev"), "--until-empty"],
        env=env,
        cwd=e2e.REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    secret = completed.stdout.split("Signing secret (Standard Webhooks): ")[1].split()[0]
    assert len(receiver.received) == 3
    for got, event in zip(receiver.received, created, strict=True):
        payload = Webhook(secret).verify(got.body, got.headers)
        assert payload["data"]["event_id"] == event["event_id"]
        assert set(payload) == {"type", "timestamp", "data"}
        shown = gateway.http("GET", f"/events/{event['event_id']}", tenant).json
        assert shown["status"] == "delivered"
    assert json.loads(gateway.http("GET", "/inbox", tenant).body)["items"] == []


def test_listen_releases_what_the_receiver_refuses(
    gateway: e2e.Gateway, tenant: str, receiver: Receiver
) -> None:
    receiver.answer = lambda path, n: (500, 0.0)
    event = gateway.http("POST", "/events", tenant, {"event_type": "x", "payload": {}}).json
    env = {**gateway.env, "DOCKHAND_API_KEY": tenant}
    completed = subprocess.run(
        [
            *e2e.DOCKHAND_CLI,
            "listen",
            "--forward",
            receiver.url(),
            "--until-empty",
            "--backoff-seconds",
            "60",
        ],
        env=env,
        cwd=e2e.REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "released" in completed.stderr
    assert gateway.http("GET", f"/events/{event['event_id']}", tenant).json["status"] == "pending"


def test_listen_refuses_a_non_local_forward_url(gateway: e2e.Gateway) -> None:
    completed = gateway.cli("listen", "--forward", "https://example.com/hook", check=False)
    assert completed.returncode == 2
    assert "localhost" in completed.stderr
