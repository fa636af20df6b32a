"""`make run`'s loopback exception never reaches its own gateway or emulator (#25):
refused at subscribe time (400 `validation_error`) and for `dockhand listen`, and the
banner says which loopback ports are allowed."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest

from tests.e2e import conftest as e2e

pytestmark = pytest.mark.e2e


def own_ports(gateway: e2e.Gateway) -> tuple[int, int]:
    api, emulator = urlsplit(gateway.url).port, urlsplit(gateway.env["AWS_ENDPOINT_URL"]).port
    assert api is not None
    assert emulator is not None
    return api, emulator


def test_subscriptions_to_the_gateway_or_its_emulator_are_400(gateway: e2e.Gateway) -> None:
    key = gateway.create_key("edge-ports", "creator")
    api, emulator = own_ports(gateway)
    for url in (
        f"http://127.0.0.1:{emulator}/moto-api/reset",
        f"http://localhost:{emulator}/",
        f"https://127.0.0.1:{emulator}/",
        f"http://127.0.0.1:{api}/events",
        f"http://localhost.:{api}/events",
    ):
        body = {"url": url, "event_types": ["order.*"]}
        result = gateway.http("POST", "/subscriptions", key, body)
        assert result.status == 400, (url, result.body)
        error = result.json["error"]
        assert error["code"] == "validation_error"
        (detail,) = error["details"]
        assert detail["field"] == "url"
        assert (
            f"any port except {min(api, emulator)} and {max(api, emulator)}" in (detail["message"])
        )
    listed = gateway.http("GET", "/subscriptions", key).json["items"]
    assert listed == []


def test_the_banner_names_the_loopback_ports_allowed(gateway: e2e.Gateway) -> None:
    api, emulator = own_ports(gateway)
    low, high = sorted((api, emulator))
    assert f"localhost or 127.0.0.1, any port except {low} and {high}" in gateway.log()


def test_listen_refuses_the_gateway_and_emulator_ports(gateway: e2e.Gateway) -> None:
    for port in own_ports(gateway):
        completed = gateway.cli("listen", "--forward", f"http://localhost:{port}/x", check=False)
        assert completed.returncode == 2, completed.stderr
        assert "make run's own gateway or AWS emulator" in completed.stderr


def test_listen_works_with_the_readme_receiver_given_the_subscription_secret(
    gateway: e2e.Gateway,
) -> None:
    """The README's walk-through: a receiver verifying with its subscription's secret;
    `listen --secret` with that secret is verified, without it the advice names the
    signature and --secret (never `connect_error`) (#26)."""
    from tests.unit.test_cli_listen import VerifyingReceiver

    key = gateway.create_key("edge-listen", "creator")
    env = {**gateway.env, "DOCKHAND_API_KEY": key}
    # The subscription gives the secret (it matches other events: none is pushed here).
    sub = gateway.http(
        "POST", "/subscriptions", key, {"url": "http://127.0.0.1:9/h", "event_types": ["x.*"]}
    )
    assert sub.status == 201, sub.body
    secret = sub.json["secret"]
    receiver = VerifyingReceiver(secret)
    try:
        event = gateway.http("POST", "/events", key, {"event_type": "build.done", "payload": {}})
        with_secret = subprocess.run(
            [*e2e.DOCKHAND_CLI, "listen", "--forward", receiver.url, "--until-empty",
             "--secret", secret],
            env=env, cwd=e2e.REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert with_secret.returncode == 0, with_secret.stderr
        assert receiver.verified == [event.json["event_id"]]
        gateway.http("POST", "/events", key, {"event_type": "build.done", "payload": {"n": 2}})
        without = subprocess.run(
            [*e2e.DOCKHAND_CLI, "listen", "--forward", receiver.url, "--until-empty",
             "--backoff-seconds", "60"],
            env=env, cwd=e2e.REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert without.returncode == 0, without.stderr
        assert "signature problem" in without.stderr, without.stderr
        assert "--secret" in without.stderr
        assert "connect_error" not in without.stderr
        assert len(receiver.verified) == 1
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
