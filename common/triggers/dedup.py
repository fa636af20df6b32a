"""Content fingerprints and idempotency records for `POST /events`.

Both records are plain items in the events table, written by conditional `Put`s in
the same TransactWriteItems as the event they guard (see `common.triggers.events`):

* dedup record       pk `T#<tenant>#D#<sha256(canonical content)>`, sk `D`
* idempotency record pk `T#<tenant>#I#<sha256(Idempotency-Key)>`,   sk `I`

A record "exists" only while its `expires_at` is in the future: the put's condition
lets an expired record be overwritten, so TTL's lazy deletion never extends a window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.runtime.config import settings
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE

DEDUP_SK = "D"
IDEMPOTENCY_SK = "I"
MAX_IDEMPOTENCY_KEY = 255

# Put only when no live record exists; ALL_OLD hands back the live one on failure,
# so a duplicate needs no extra read.
_ABSENT_OR_EXPIRED = "attribute_not_exists(#pk) OR #exp < :now"


def canonical_json(value: Any) -> str:
    """Key order and whitespace removed: equal JSON values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_fingerprint(event_type: str, payload: Mapping[str, Any], source: str | None) -> str:
    """What makes two events "the same" for duplicate suppression (tenant is in the key)."""
    return sha256_hex(
        canonical_json({"event_type": event_type, "payload": payload, "source": source})
    )


def dedup_pk(tenant: str, fingerprint: str) -> str:
    return f"T#{tenant}#D#{fingerprint}"


def idempotency_pk(tenant: str, idempotency_key: str) -> str:
    # Hashed: the key is client text of up to 255 chars; the hash keeps keys short and
    # keeps whatever the client put in it out of our key space.
    return f"T#{tenant}#I#{sha256_hex(idempotency_key)}"


def valid_idempotency_key(value: str) -> bool:
    return 1 <= len(value) <= MAX_IDEMPOTENCY_KEY


# What the first answer to a request was: a new event, or a content duplicate.
CREATED, DUPLICATE = "created", "duplicate"
# Records written before the kind was stored kept the HTTP status instead.
_LEGACY_STATUS_KINDS = {201: CREATED, 200: DUPLICATE}


@dataclass(frozen=True)
class StoredResponse:
    """The answer an idempotency key was first given: its kind and its body."""

    kind: str  # CREATED | DUPLICATE
    body: Mapping[str, Any]
    request_fingerprint: str


def conditional_put(table: str, item: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A transaction `Put` that succeeds only when no live record has this key."""
    return dynamo.put_op(
        table,
        item,
        condition=_ABSENT_OR_EXPIRED,
        names={"#pk": PK, "#exp": TTL_ATTRIBUTE},
        values={":now": int(now)},
        return_old_on_failure=True,
    )


def dedup_put(
    tenant: str, fingerprint: str, original: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """Claims the content for the dedup window; remembers the original event's summary."""
    item = {
        PK: dedup_pk(tenant, fingerprint),
        SK: DEDUP_SK,
        "event_id": original["event_id"],
        "received_at": original["received_at"],
        TTL_ATTRIBUTE: int(now) + settings().dedup_window_seconds,
    }
    return conditional_put(settings().events_table, item, now)


def idempotency_put(
    tenant: str, idempotency_key: str, response: StoredResponse, now: float
) -> dict[str, Any]:
    item = {
        PK: idempotency_pk(tenant, idempotency_key),
        SK: IDEMPOTENCY_SK,
        "request_fingerprint": response.request_fingerprint,
        "response_kind": response.kind,
        "response_body": canonical_json(response.body),
        TTL_ATTRIBUTE: int(now) + settings().idempotency_ttl_seconds,
    }
    return conditional_put(settings().events_table, item, now)


def stored_response(item: Mapping[str, Any]) -> StoredResponse:
    """An idempotency record (deserialised) back as the response it stored."""
    kind = item.get("response_kind")
    if kind is None:
        kind = _LEGACY_STATUS_KINDS[int(item["response_status"])]
    return StoredResponse(
        kind=str(kind),
        body=json.loads(str(item["response_body"])),
        request_fingerprint=str(item["request_fingerprint"]),
    )
