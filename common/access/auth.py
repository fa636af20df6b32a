"""API keys: `dk_<key_id>_<secret>`, one GetItem by key id, bcrypt of the secret only.

A verified key is cached per container by the SHA-256 of the whole key for at most
`key_cache_seconds` (≤ 60), so warm requests skip the GetItem and bcrypt (~1 ms at
BCRYPT_COST) and a revoked key stops working everywhere within 60 s.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bcrypt  # a cold container's first request always verifies (the cache is empty)

from common.access import authguard
from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from common.runtime.http import Principal
from common.runtime.observability import logger
from common.runtime.slug import SLUG_MESSAGE, is_slug
from common.store import dynamo
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, PK, SK

ROLES = ("viewer", "creator")
KEY_PREFIX = "dk_"
# Lower-case ULIDs (26 characters), so ids sort in creation order like every other id;
# 16 random characters for keys made before that.
_KEY_ID = re.compile(r"[a-z0-9]{16}(?:[a-z0-9]{10})?")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
# bcrypt cost of new keys. A secret is 256 random bits (secrets.token_urlsafe(32)):
# guessing it is hopeless at any speed, so the hash's slowness adds no strength, only
# CPU that every wrong secret would cost us. 4 is bcrypt's minimum; checkpw measured
# 0.97 ms of CPU per check at 4 (1.9 ms at 5, 3.7 ms at 6, 234 ms at 12) on the
# 2-CPU dev machine. Older keys keep (and verify at) the cost in their hash.
BCRYPT_COST = 4


@dataclass(frozen=True)
class CachedKey:
    principal: Principal
    expires: float  # time.monotonic() deadline


_cache: dict[bytes, CachedKey] = {}
_cache_lock = threading.Lock()
verification_count = 0  # bcrypt checks in this container (benchmarks and tests read it)
# The cache's clock: monotonic (wall-clock steps must not stretch a key's life); tests swap it.
monotonic: Callable[[], float] = time.monotonic


def _key_pk(key_id: str) -> str:
    return f"KEY#{key_id}"


def valid_tenant(tenant: str) -> bool:
    return is_slug(tenant)


def split_key(api_key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    if not api_key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = api_key[len(KEY_PREFIX) :].partition("_")
    if not sep or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return key_id, secret


def create_key(tenant: str, role: str, label: str = "") -> dict[str, Any]:
    """Store a new key and return its record with the full key (shown only once)."""
    if not valid_tenant(tenant):
        raise ValidationFailed(details=[{"field": "tenant", "message": SLUG_MESSAGE}])
    if role not in ROLES:
        raise ValidationFailed(details=[{"field": "role", "message": "viewer or creator"}])
    key_id = ids.new_id().lower()  # Crockford base32 sorts the same in lower case
    secret = secrets.token_urlsafe(32)  # 43 chars: well under bcrypt's 72-byte limit
    secret_hash = bcrypt_hash(secret)
    created_at = clock.iso(clock.now())
    item = {
        PK: _key_pk(key_id),
        SK: "KEY",
        GSI1_PK: f"T#{tenant}",
        GSI1_SK: f"KEY#{key_id}",
        "key_id": key_id,
        "tenant": tenant,
        "role": role,
        "label": label,
        "secret_hash": secret_hash,
        "created_at": created_at,
    }
    dynamo.put(settings().keys_table, item, condition="attribute_not_exists(pk)")
    return {
        "key_id": key_id,
        "tenant": tenant,
        "role": role,
        "label": label,
        "created_at": created_at,
        "api_key": f"{KEY_PREFIX}{key_id}_{secret}",
    }


def bcrypt_hash(secret: str) -> str:
    return str(bcrypt.hashpw(secret.encode(), bcrypt.gensalt(BCRYPT_COST)).decode())


def list_keys(tenant: str) -> list[dict[str, Any]]:
    """A tenant's keys, without their hashes."""
    records = dynamo.query_partition_all(settings().keys_table, tenant, f"T#{tenant}", index=GSI1)
    fields = ("key_id", "tenant", "role", "label", "created_at", "revoked_at")
    return [{k: record.get(k) for k in fields} for record in records]


def revoke_key(key_id: str) -> dict[str, Any]:
    try:
        record = dynamo.update(
            settings().keys_table,
            {PK: _key_pk(key_id), SK: "KEY"},
            "SET revoked_at = if_not_exists(revoked_at, :now)",
            condition="attribute_exists(pk)",
            values={":now": clock.iso(clock.now())},
            returns="ALL_NEW",
        )
    except dynamo.ConditionFailed:
        raise NotFound("No such key.") from None
    with _cache_lock:
        for digest, cached in list(_cache.items()):
            if cached.principal.key_id == key_id:
                del _cache[digest]
    return {k: record.get(k) for k in ("key_id", "tenant", "role", "revoked_at")}


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(authorization: str | None, client: str | None = None) -> Principal:
    """The principal of a valid, unrevoked key; 401 otherwise (never says why).

    The key is always checked first, so a valid key is never refused for what other
    requests did; only a failure is then counted against `client` (the source IP),
    and a client over its failure budget gets 429 instead of 401
    (common.access.authguard)."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized()  # no key presented: nothing to count
    parts = split_key(token)
    try:
        if parts is None:
            raise Unauthorized()
        return _check(token, *parts)
    except Unauthorized:
        authguard.guard().failed(client or "unknown", parts[0] if parts else None)
        raise


def _check(token: str, key_id: str, secret: str) -> Principal:
    """Cache by SHA-256 of the whole key, else one GetItem and one cheap bcrypt check.

    An unknown key id answers 401 without bcrypt: key ids are identifiers, not secrets
    (they are in `keys list` and in logs), so the timing may tell that one exists."""
    global verification_count
    digest = hashlib.sha256(token.encode()).digest()
    cached = _cache.get(digest)
    if cached is not None and cached.expires > monotonic():
        _metric("auth_cache_hits")
        return cached.principal
    record = dynamo.get(settings().keys_table, {PK: _key_pk(key_id), SK: "KEY"})
    if record is None:
        logger.info("api key rejected", extra={"reason": "unknown_key", "key_id": key_id})
        raise Unauthorized()
    verification_count += 1
    _metric("auth_bcrypt_verifications")
    # Keys made before BCRYPT_COST was lowered keep their cost-12 hash: the hash names
    # its own cost, so both verify (key items are read-only to the API: no re-hash).
    if not bcrypt.checkpw(secret.encode(), str(record["secret_hash"]).encode()):
        logger.info("api key rejected", extra={"reason": "bad_secret", "key_id": key_id})
        raise Unauthorized()
    if record.get("revoked_at"):
        logger.info("api key rejected", extra={"reason": "revoked", "key_id": key_id})
        raise Unauthorized()
    principal = _principal(key_id, record)
    ttl = settings().key_cache_seconds
    if ttl > 0:
        with _cache_lock:
            _cache[digest] = CachedKey(principal, monotonic() + ttl)
    return principal


def _principal(key_id: str, record: dict[str, Any]) -> Principal:
    return Principal(tenant=str(record["tenant"]), role=str(record["role"]), key_id=key_id)


def require_role(principal: Principal, role: str) -> None:
    if role == "creator" and principal.role != "creator":
        raise Forbidden()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _metric(name: str) -> None:
    from common.runtime.catalogue import count

    count(name)
