"""Standard Webhooks signing, checked with the reference library (standardwebhooks)."""

from __future__ import annotations

import base64
import os
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from common.triggers import webhooks

EVENT: dict[str, object] = {
    "event_id": "01J0000000000000000000000A",
    "event_type": "order.created",
    "payload": {"n": 1, "text": "héllo"},
    "source": None,
    "occurred_at": None,
    "received_at": "2026-12-01T08:00:00.000Z",
    "status": "pending",
    "delivered_at": None,
}


def test_secret_is_whsec_and_32_bytes_round_trip() -> None:
    key = os.urandom(32)
    secret = webhooks.format_secret(key)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert webhooks.parse_secret(secret) == key
    for bad in ("abc", "whsec_" + base64.b64encode(b"short").decode(), "whsec_!!"):
        with pytest.raises(ValueError, match="secret"):
            webhooks.parse_secret(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        webhooks.format_secret(b"x" * 31)


def test_the_reference_library_verifies_a_delivery_unchanged() -> None:
    key = os.urandom(32)
    body = webhooks.delivery_body(EVENT)
    now = int(time.time())
    headers = webhooks.headers([key], webhooks.message_id("S", str(EVENT["event_id"])), now, body)
    verified = Webhook(webhooks.format_secret(key)).verify(body, headers)
    assert verified == {"type": "order.created", "timestamp": EVENT["received_at"], "data": EVENT}
    assert headers["content-type"] == "application/json"


def test_both_signatures_verify_during_a_rotation_and_a_foreign_key_does_not() -> None:
    new, old, other = os.urandom(32), os.urandom(32), os.urandom(32)
    body = webhooks.delivery_body(EVENT)
    headers = webhooks.headers([new, old], "msg_1", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for key in (new, old):
        Webhook(webhooks.format_secret(key)).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.format_secret(other)).verify(body, headers)


def test_a_changed_body_or_stale_timestamp_fails_verification() -> None:
    key = os.urandom(32)
    body = webhooks.delivery_body(EVENT)
    headers = webhooks.headers([key], "msg_1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.format_secret(key)).verify(body + b" ", headers)
    stale = webhooks.headers([key], "msg_1", int(time.time()) - 600, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.format_secret(key)).verify(body, stale)


def test_signature_matches_the_specified_formula() -> None:
    import hashlib
    import hmac

    key = b"k" * 32
    expected = base64.b64encode(hmac.new(key, b"msg_x.1700000000.{}", hashlib.sha256).digest())
    assert webhooks.sign(key, "msg_x", 1700000000, b"{}") == "v1," + expected.decode()


def test_message_id_is_stable_per_subscription_and_event() -> None:
    a = webhooks.message_id("S1", "E1")
    assert a == webhooks.message_id("S1", "E1")
    assert a != webhooks.message_id("S2", "E1") != webhooks.message_id("S1", "E2")
    assert a.startswith("msg_")
    assert "." not in a
    with pytest.raises(ValueError, match="key"):
        webhooks.headers([], a, 1, b"{}")
