"""`dockhand listen`: what it accepts, and that a forward is signed exactly like a
push delivery (the same body, headers and sender), verified by the reference library."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from common.triggers import webhooks
from tests.unit.delivery_support import Receiver, running_receiver
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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


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
