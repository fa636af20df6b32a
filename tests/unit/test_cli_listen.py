"""`dockhand listen`: what it accepts, and that a forward is signed exactly like a
push delivery (the same body, headers and sender), verified by the reference library."""

from __future__ import annotations

import argparse
import os
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from common.triggers import webhooks
from tests.unit.delivery_support import (
    Receiver,
    receiver_fixture,  # noqa: F401 - fixtures
)
from tools.cli import listen, main

ITEM: dict[str, Any] = {
    "event_id": "01JDC4Y7Q8M2N3P4R5S6T7V8W9",
    "event_type": "order.created",
    "payload": {"order": 42},
    "source": "shop",
    "occurred_at": None,
    "received_at": "2026-11-23T09:15:00.000Z",
    "attempts": 1,
}


@pytest.mark.parametrize(
    "url", ["http://localhost:4000/hook", "http://127.0.0.1:9/x", "https://localhost:8443/"]
)
def test_local_forward_urls_are_accepted(url: str) -> None:
    assert listen.local_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "http://10.0.0.1:80/",
        "http://127.0.0.2:80/",
        "ftp://localhost/",
        "x",
    ],
)
def test_other_forward_urls_are_refused(url: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        listen.local_url(url)


def test_the_command_is_registered_with_its_options() -> None:
    args = main.build_parser().parse_args(
        ["listen", "--forward", "http://localhost:4000/x", "--event-type", "order.created"]
    )
    assert (args.forward, args.event_type, args.lease_seconds) == (
        "http://localhost:4000/x",
        "order.created",
        60,
    )
    with pytest.raises(SystemExit):
        main.build_parser().parse_args(
            ["listen", "--forward", "http://localhost:1/", "--secret", "nope"]
        )


def test_a_forward_is_a_delivery_the_reference_library_verifies(receiver: Receiver) -> None:
    secret = webhooks.format_secret(os.urandom(32))
    forwarder = listen.Forwarder(receiver.url("/dev"), secret)
    result = forwarder.forward(ITEM)
    assert result.ok
    (got,) = receiver.received
    payload = Webhook(secret).verify(got.body, got.headers)
    expected_data = {k: v for k, v in ITEM.items() if k != "attempts"}
    assert payload == {
        "type": "order.created",
        "timestamp": ITEM["received_at"],
        "data": {**expected_data, "status": "pending", "delivered_at": None},
    }
    # The same bytes the deliver function would send for this event.
    assert got.body == webhooks.delivery_body(forwarder.event_of(ITEM))
    again = forwarder.forward(ITEM)
    assert again.ok
    assert receiver.received[1].headers["webhook-id"] == got.headers["webhook-id"]


def test_a_refusing_receiver_is_a_failed_forward(receiver: Receiver) -> None:
    receiver.answer = lambda path, n: (500, 0.0)
    forwarder = listen.Forwarder(receiver.url(), webhooks.format_secret(os.urandom(32)))
    result = forwarder.forward(ITEM)
    assert (result.ok, result.status_code) == (False, 500)


# --------------------------------------------------------------------------- #26, #25


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "https://example.com/hook", "http://[::1]:4000/", "ftp://x/"],
)
def test_every_refused_forward_url_gets_the_one_message_saying_what_is_accepted(url: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        listen.local_url(url)
    assert str(refused.value) == listen.FORWARD_RULE
    assert "http://localhost:PORT/path" in listen.FORWARD_RULE


class VerifyingReceiver:
    """The README's receiver: verifies with the Standard Webhooks library and, when the
    signature does not match, raises (http.server then closes without an answer)."""

    def __init__(self, secret: str) -> None:
        import http.server
        import threading

        self.verified: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                event = Webhook(secret).verify(body, dict(self.headers))  # raises if forged
                outer.verified.append(event["data"]["event_id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def log_error(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://localhost:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_readme_receiver_verifies_a_forward_signed_with_the_subscription_secret() -> None:
    secret = webhooks.format_secret(os.urandom(32))
    receiver = VerifyingReceiver(secret)
    try:
        args = main.build_parser().parse_args(
            ["listen", "--forward", receiver.url, "--secret", secret]
        )
        forwarder = listen.Forwarder(args.forward, args.secret)
        assert forwarder.forward(ITEM).ok
        assert receiver.verified == [ITEM["event_id"]]
        # Without the receiver's secret: reported as a signature problem naming --secret.
        other = listen.Forwarder(receiver.url, webhooks.format_secret(os.urandom(32)), False)
        result = other.forward(ITEM)
        assert not result.ok
        advice = other.explain(result)
        assert "signature" in advice, advice
        assert "--secret" in advice, advice
        assert "connect_error" not in advice
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_receiver_that_is_not_running_is_told_apart(receiver: Receiver) -> None:
    url = receiver.url()
    receiver.stop()
    forwarder = listen.Forwarder(url, webhooks.format_secret(os.urandom(32)), False)
    advice = forwarder.explain(forwarder.forward(ITEM))
    assert "is the receiver running?" in advice
    assert "signature" not in advice


def test_listen_refuses_the_ports_of_a_running_make_run(
    receiver: Receiver, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tools.cli import localstate

    port = int(receiver.url().split(":")[2].split("/")[0])
    monkeypatch.setattr(localstate, "STATE_DIR", tmp_path)
    state = {
        "api_url": f"http://127.0.0.1:{port}",
        "env": {"AWS_ENDPOINT_URL": "http://127.0.0.1:54999"},
        "pid": os.getpid(),
    }
    (tmp_path / f"local-{port}.json").write_text(json.dumps(state))
    reserved = listen.make_run_ports()
    assert reserved == {port, 54999}
    for url in (f"http://localhost:{port}/events", "http://127.0.0.1:54999/moto-api/reset"):
        refusal = listen.check_forward(url, reserved)
        assert refusal is not None
        assert "make run's own gateway or AWS emulator" in refusal
        args = main.build_parser().parse_args(["listen", "--forward", url])
        assert args.func(args) == 2
    assert listen.check_forward("http://localhost:4000/hook", reserved) is None
    forwarder = listen.Forwarder(f"http://localhost:{port}/x", "whsec_" + "A" * 44, True, reserved)
    assert forwarder.forward(ITEM).outcome == "ssrf_refused"
    assert receiver.received == []
