"""Agent identity and heartbeat signatures (pure: no AWS).

Identity without a stored secret: an agent's id is `<ULID>.<tenant>` and its secret
is `HMAC(derived_key("agent"), agent_id)` for generation 0, and
`HMAC(derived_key("agent"), "<agent_id>#<generation>")` after each rotation.  The id
alone names the tenant (a heartbeat carries no API key) and the tenant part cannot
be forged, because the signature check needs the secret derived from the whole id.
Only the generation number is stored, never a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from common.runtime import clock, ids
from common.runtime.errors import Unauthorized
from common.runtime.observability import logger
from common.runtime.slug import is_slug
from common.store.secrets import derived_key

TIMESTAMP_TOLERANCE_SECONDS = 300
SIGNATURE_VERSION = "v1"

_ULID_LENGTH = 26
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]{64})")


def new_agent_id(tenant: str) -> str:
    """`<ULID>.<tenant>`: sorts by creation time and names its tenant."""
    return f"{ids.new_id()}.{tenant}"


def tenant_of(agent_id: str) -> str | None:
    """The tenant an agent id names, or None if it is not a well-formed agent id."""
    if len(agent_id) <= _ULID_LENGTH + 1 or agent_id[_ULID_LENGTH] != ".":
        return None
    if not ids.is_valid_id(agent_id[:_ULID_LENGTH]):
        return None
    tenant = agent_id[_ULID_LENGTH + 1 :]
    return tenant if is_slug(tenant) else None


def agent_secret(agent_id: str, generation: int = 0) -> str:
    """The agent's signing secret of one generation, derived (never stored)."""
    subject = agent_id if generation == 0 else f"{agent_id}#{generation}"
    return hmac.new(derived_key("agent"), subject.encode(), hashlib.sha256).hexdigest()


def heartbeat_path(agent_id: str) -> str:
    return f"/agents/{agent_id}/heartbeat"


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The `X-Agent-Signature` value for one request."""
    body_hash = hashlib.sha256(body).hexdigest()
    message = f"{timestamp}\n{method.upper()}\n{path}\n{body_hash}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def refuse(reason: str, agent_id: str) -> Unauthorized:
    """The one 401 every failed check gives; only the log says which check failed."""
    from common.runtime import catalogue as metrics

    metrics.count("heartbeats_refused")
    logger.info("heartbeat refused", extra={"reason": reason, "agent_id": agent_id[:80]})
    return Unauthorized()


@dataclass(frozen=True)
class SignedHeartbeat:
    """A heartbeat whose headers are well formed and recent; the signature is not yet
    checked (that needs the agent's secret generation, stored on the agent)."""

    agent_id: str
    tenant: str
    timestamp: int
    message_parts: tuple[str, str, str, bytes]  # timestamp text, method, path, body
    offered: str

    def signed_by(self, generation: int) -> bool:
        expected = sign(agent_secret(self.agent_id, generation), *self.message_parts)
        return hmac.compare_digest(expected.encode(), self.offered.encode())


def check_headers(
    agent_id: str,
    method: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
) -> SignedHeartbeat:
    """Headers, clock skew and id format, in memory; 401 on any failure."""
    if timestamp_header is None or not _TIMESTAMP.fullmatch(timestamp_header.strip()):
        raise refuse("bad_timestamp_header", agent_id)
    signature = _SIGNATURE.fullmatch((signature_header or "").strip())
    if signature is None:
        raise refuse("bad_signature_header", agent_id)
    stamp = timestamp_header.strip()
    timestamp = int(stamp)
    if abs(clock.now() - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        raise refuse("timestamp_out_of_window", agent_id)
    tenant = tenant_of(agent_id)
    if tenant is None:
        raise refuse("malformed_agent_id", agent_id)
    return SignedHeartbeat(
        agent_id=agent_id,
        tenant=tenant,
        timestamp=timestamp,
        message_parts=(stamp, method, heartbeat_path(agent_id), body),
        offered=f"{SIGNATURE_VERSION}={signature.group(1).lower()}",
    )
