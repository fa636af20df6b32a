"""Agent identity and heartbeat signatures (pure: no AWS).

Identity without a stored secret: an agent's id is `<ULID>.<tenant>` and its secret
is `HMAC(derived_key("agent"), agent_id)` for generation 0, and
`HMAC(derived_key("agent"), "<agent_id>#<generation>")` after each rotation.  The id
alone names the tenant (a heartbeat carries no API key) and the tenant part cannot
be forged, because the signature check needs the secret derived from the whole id.
Only the generation number is stored, never a secret.

Every signed route (heartbeats and a worker's lease, ack and release) signs
`"{timestamp}\n{METHOD}\n{path}\n{hex sha256(body)}"` with the path built from the agent
id and the route's action; the timestamp is unix seconds, optionally with up to three
decimals (milliseconds), so one agent can sign many requests in one second.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from common.runtime import clock, ids
from common.runtime.errors import Unauthorized
from common.runtime.http import Request
from common.runtime.observability import logger
from common.runtime.routedoc import Param
from common.runtime.slug import is_slug
from common.store.secrets import derived_key

TIMESTAMP_TOLERANCE_SECONDS = 300
SIGNATURE_VERSION = "v1"

# The signature headers as the OpenAPI document shows them on every signed route.
AGENT_SIGNATURE = (
    Param(
        "X-Agent-Timestamp",
        {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,3})?$"},
        required=True,
        where="header",
        description="Unix seconds, optionally with milliseconds (1765000000.123); within "
        "300 s of server time. Heartbeats: newer than the last accepted one; worker calls "
        "(lease, ack, release): each signature is accepted once.",
    ),
    Param(
        "X-Agent-Signature",
        {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"},
        required=True,
        where="header",
        description='v1=hex HMAC-SHA256(secret, "{timestamp}\\n{METHOD}\\n{path}\\n'
        '{hex sha256(body)}")',
    ),
)

_ULID_LENGTH = 26
_TIMESTAMP = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,3})?")
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
    return signed_path(agent_id, "heartbeat")


def signed_path(agent_id: str, action: str) -> str:
    """The path a signature covers: built from the id, never taken from the request,
    so a stage prefix or a proxy in front does not break signatures."""
    return f"/agents/{agent_id}/{action}"


def timestamp_ms(stamp: str) -> int:
    """`1765000000` or `1765000000.123` as epoch milliseconds (exact: no float)."""
    whole, _, fraction = stamp.partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


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
class SignedRequest:
    """A signed request whose headers are well formed and recent; the signature is not
    yet checked (that needs the agent's secret generation, stored on the agent)."""

    agent_id: str
    tenant: str
    timestamp_ms: int
    message_parts: tuple[str, str, str, bytes]  # timestamp text, method, path, body
    offered: str

    def signed_by(self, generation: int) -> bool:
        expected = sign(agent_secret(self.agent_id, generation), *self.message_parts)
        return hmac.compare_digest(expected.encode(), self.offered.encode())

    @property
    def digest(self) -> str:
        """What names this exact signature (the replay guard's key): a signature is unique
        to its agent, timestamp, path and body, so one digest is one request."""
        return hashlib.sha256(f"{self.agent_id}\n{self.offered}".encode()).hexdigest()


def check_request(request: Request, action: str = "heartbeat") -> SignedRequest:
    """check_headers on a signed route's request (its path names the agent)."""
    return check_headers(
        request.path_param("agent_id"),
        request.method,
        request.header("x-agent-timestamp"),
        request.header("x-agent-signature"),
        request.body,
        action=action,
    )


def check_headers(
    agent_id: str,
    method: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    action: str = "heartbeat",
) -> SignedRequest:
    """Headers, clock skew and id format, in memory; 401 on any failure."""
    if timestamp_header is None or not _TIMESTAMP.fullmatch(timestamp_header.strip()):
        raise refuse("bad_timestamp_header", agent_id)
    signature = _SIGNATURE.fullmatch((signature_header or "").strip())
    if signature is None:
        raise refuse("bad_signature_header", agent_id)
    stamp = timestamp_header.strip()
    stamp_ms = timestamp_ms(stamp)
    if abs(clock.now() * 1000 - stamp_ms) > TIMESTAMP_TOLERANCE_SECONDS * 1000:
        raise refuse("timestamp_out_of_window", agent_id)
    tenant = tenant_of(agent_id)
    if tenant is None:
        raise refuse("malformed_agent_id", agent_id)
    return SignedRequest(
        agent_id=agent_id,
        tenant=tenant,
        timestamp_ms=stamp_ms,
        message_parts=(stamp, method, signed_path(agent_id, action), body),
        offered=f"{SIGNATURE_VERSION}={signature.group(1).lower()}",
    )
