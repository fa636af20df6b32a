"""Standard Webhooks signing (pure): secrets, message ids, bodies and headers.

Per the Standard Webhooks specification:
* a secret is `whsec_` + base64 of 32 bytes; the signing key is those bytes;
* `webhook-signature` is `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
  several space-separated during a secret rotation (the receiver accepts any);
* `webhook-timestamp` is the send time in unix seconds (receivers refuse messages
  more than 5 minutes off, so every attempt is signed anew);
* `webhook-id` is stable across retries of one event to one subscription.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
KEY_BYTES = 32


def format_secret(key: bytes) -> str:
    if len(key) != KEY_BYTES:
        raise ValueError("a webhook key is 32 bytes")
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError("a webhook secret is base64 after whsec_") from None
    if len(key) != KEY_BYTES:
        raise ValueError("a webhook secret holds 32 bytes")
    return key


def message_id(subscription_id: str, event_id: str) -> str:
    """Stable per (subscription, event): retries and replays carry the same id."""
    digest = hashlib.sha256(f"{subscription_id}/{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def delivery_body(event: Mapping[str, Any]) -> bytes:
    """`{"type", "timestamp", "data"}` with `data` the GET /events/{id} body."""
    envelope = {"type": event["event_type"], "timestamp": event["received_at"], "data": event}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one delivery: one signature per key, newest first."""
    if not keys:
        raise ValueError("at least one signing key")
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }
