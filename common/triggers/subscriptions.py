"""Push subscriptions: the record and its views; create, read, list, delete, rotate the
secret; the delivery log.  Changes (PATCH, pause, enable with recovery) are in
subscription_changes.py, test sends and resends in subscription_sends.py.

Data layout (hooks table, see docs/triggers.md "Push delivery"):
* subscription  pk `T#<tenant>#SUBS`, sk `<subscription_id>`: one Query lists a
  tenant's subscriptions (the dispatch function's one read per tenant and batch);
* delivery state pk `T#<tenant>#SUB#<id>#D`, sk `<event_id>#<round>`, see delivery.py;
* delivery log  pk `T#<tenant>#SUB#<id>#LOG`, sk `<attempt id>` (ULID: newest first
  is one backwards Query).

Secrets are derived, never stored: key = HMAC-SHA256(HMAC(master key,
"webhook-secret/v1"), tenant | subscription | generation | salt).  The item keeps only
the generation (rotation increments it) and a random salt per generation, neither of
them secret: a table export, a backup or a log line of the item leaks nothing that
signs, and no KMS call sits on the delivery path.  The price is that rotating the
master key changes every webhook secret (docs/triggers.md says how to plan for it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as random_secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import NotFound, ValidationFailed
from common.runtime.models import Count, Id, Time, Timestamp
from common.store import cursor as cursors
from common.store import dynamo
from common.store.secrets import derived_key
from common.store.tables import PK, SK, TTL_ATTRIBUTE
from common.triggers import ssrf, webhooks
from common.triggers import subscription_input as inputs

ACTIVE, PAUSED, DISABLED = "active", "paused", "disabled"
ROTATION_OVERLAP_SECONDS = 24 * 3600
MAX_EVENT_TYPE_FILTERS = inputs.MAX_EVENT_TYPE_FILTERS
_SECRET_PURPOSE = "webhook-secret/v1"  # noqa: S105 - a derivation label, not a secret

EventTypeFilter = inputs.EventTypeFilter
NewSubscription = inputs.NewSubscription  # the create body (kept here for old importers)


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: Timestamp
    until: Timestamp | None = None
    event_types: (
        Annotated[list[EventTypeFilter], Field(min_length=1, max_length=MAX_EVENT_TYPE_FILTERS)]
        | None
    ) = None

    _filters = field_validator("event_types")(classmethod(lambda cls, v: inputs.check_filters(v)))


@with_config(ConfigDict(extra="forbid", title="ReplayAccepted"))
class ReplayAcceptedView(TypedDict):
    """POST .../replay (202): the events in the window, sent in the background."""

    replay_id: Id
    events: Count


class NoBody(BaseModel):
    """POST routes without a body accept nothing but an empty object."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- matching (pure)


def matches(filters: Sequence[str] | None, event_type: str) -> bool:
    """Exact names, or `prefix.*` for every type that starts with `prefix.`; None = all."""
    if filters is None:
        return True
    for entry in filters:
        if entry.endswith(".*"):
            if event_type.startswith(entry[:-1]):
                return True
        elif entry == event_type:
            return True
    return False


# ---------------------------------------------------------------- keys


def subscriptions_pk(tenant: str) -> str:
    return f"T#{tenant}#SUBS"


def log_pk(tenant: str, subscription_id: str) -> str:
    return f"T#{tenant}#SUB#{subscription_id}#LOG"


def state_pk(tenant: str, subscription_id: str) -> str:
    return f"T#{tenant}#SUB#{subscription_id}#D"


def subscription_key(tenant: str, subscription_id: str) -> dict[str, str]:
    return {PK: subscriptions_pk(tenant), SK: subscription_id}


# ---------------------------------------------------------------- response views

SubscriptionStatus = Literal["active", "paused", "disabled"]
UrlOut = Annotated[
    str,
    Field(
        description="https:// on port 443 or 8443 (`make run` also allows loopback http).",
        json_schema_extra={"format": "uri", "pattern": "^https?://"},
    ),
]


@with_config(ConfigDict(extra="forbid", title="Subscription"))
class SubscriptionView(TypedDict):
    """A subscription as every answer shows it: never the secret, nor what derives it."""

    subscription_id: Id
    url: UrlOut
    event_types: list[str] | None
    description: str | None
    status: SubscriptionStatus
    created_at: Time
    last_success_at: Time | None
    last_failure_at: Time | None
    consecutive_failures: Count
    failing_since: Time | None
    paused_at: Time | None
    headers: dict[str, str]
    rate_limit_per_second: Annotated[int, Field(ge=1, le=1000)] | None


@with_config(ConfigDict(extra="forbid", title="SubscriptionCreated"))
class SubscriptionCreatedView(SubscriptionView):
    secret: Annotated[
        str, Field(pattern=r"^whsec_[A-Za-z0-9+/]{43}=$", description="Shown once, never again.")
    ]


@with_config(ConfigDict(extra="forbid", title="SubscriptionSecretRotated"))
class SecretRotatedView(TypedDict):
    subscription_id: Id
    secret: Annotated[
        str,
        Field(
            pattern=r"^whsec_[A-Za-z0-9+/]{43}=$",
            description="Shown once; the previous one signs too for 24 h.",
        ),
    ]
    previous_secret_expires_at: Time


# ---------------------------------------------------------------- the record


def _moment(value: Any) -> float | None:
    """A stored moment, epoch seconds or an RFC 3339 string (both forms are written)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return clock.parse_iso(value).timestamp()
    return float(value)


@dataclass(frozen=True)
class Subscription:
    item: Mapping[str, Any]

    @property
    def id(self) -> str:
        return str(self.item["subscription_id"])

    @property
    def tenant(self) -> str:
        return str(self.item["tenant"])

    @property
    def url(self) -> str:
        return str(self.item["url"])

    @property
    def status(self) -> str:
        return str(self.item["status"])

    @property
    def event_types(self) -> list[str] | None:
        raw = self.item.get("event_types_json")
        return None if raw is None else list(json.loads(str(raw)))

    @property
    def created_at(self) -> str:
        return str(self.item["created_at"])

    @property
    def consecutive_failures(self) -> int:
        return int(self.item.get("consecutive_failures") or 0)

    @property
    def failing_since(self) -> int | None:
        moment = _moment(self.item.get("failing_since"))
        return int(moment) if moment is not None else None

    @property
    def headers(self) -> dict[str, str]:
        """The tenant's custom headers, sent with every delivery."""
        return {str(k): str(v) for k, v in (self.item.get("headers") or {}).items()}

    @property
    def rate_limit_per_second(self) -> int | None:
        value = self.item.get("rate_limit_per_second")
        return int(value) if value is not None else None

    def public(self) -> SubscriptionView:
        """What GET shows: never the secret, nor what derives it."""
        failing = _moment(self.item.get("failing_since"))
        status = self.status
        return {
            "subscription_id": self.id,
            "url": self.url,
            "event_types": self.event_types,
            "description": self.item.get("description"),
            "status": cast(SubscriptionStatus, status),
            "created_at": self.created_at,
            "last_success_at": self.item.get("last_success_at"),
            "last_failure_at": self.item.get("last_failure_at"),
            "consecutive_failures": self.consecutive_failures,
            "failing_since": clock.iso(failing) if failing is not None else None,
            "paused_at": self.item.get("paused_at") if status == PAUSED else None,
            "headers": self.headers,
            "rate_limit_per_second": self.rate_limit_per_second,
        }

    def signing_keys(self, now: float) -> list[bytes]:
        """The current key, and the previous one while its 24 h overlap lasts."""
        keys = [_key(self.tenant, self.id, int(self.item["secret_gen"]), str(self.item["salt"]))]
        until = self.item.get("prev_until")
        if until is not None and int(until) > now and self.item.get("prev_salt"):
            prev = _key(
                self.tenant, self.id, int(self.item["prev_gen"]), str(self.item["prev_salt"])
            )
            keys.append(prev)
        return keys


def _key(tenant: str, subscription_id: str, generation: int, salt: str) -> bytes:
    message = f"{tenant}\n{subscription_id}\n{generation}\n{salt}".encode()
    return hmac.new(derived_key(_SECRET_PURPOSE), message, hashlib.sha256).digest()


def _secret_of(item: Mapping[str, Any]) -> str:
    key = _key(
        str(item["tenant"]),
        str(item["subscription_id"]),
        int(item["secret_gen"]),
        str(item["salt"]),
    )
    return webhooks.format_secret(key)


# ---------------------------------------------------------------- API operations


def check_url(url: str) -> None:
    """400 naming `url` when the SSRF guard refuses it (resolves the host once)."""
    try:
        ssrf.check(url, allow_loopback=settings().allow_loopback_targets)
    except ssrf.Refused as refused:
        raise ValidationFailed(details=[{"field": "url", "message": str(refused)}]) from None


def create(tenant: str, new: inputs.NewSubscription) -> SubscriptionCreatedView:
    check_url(new.url)
    now = clock.now()
    subscription_id = ids.new_id()
    item: dict[str, Any] = {
        **subscription_key(tenant, subscription_id),
        "subscription_id": subscription_id,
        "tenant": tenant,
        "url": new.url,
        "event_types_json": None if new.event_types is None else json.dumps(new.event_types),
        "description": new.description,
        "status": ACTIVE,
        "created_at": clock.iso(now),
        "consecutive_failures": 0,
        "secret_gen": 1,
        "salt": random_secrets.token_hex(16),
    }
    if new.headers:
        item["headers"] = dict(new.headers)
    if new.rate_limit_per_second is not None:
        item["rate_limit_per_second"] = new.rate_limit_per_second
    dynamo.put(
        settings().hooks_table, item, condition="attribute_not_exists(#pk)", names={"#pk": PK}
    )
    return {**Subscription(item).public(), "secret": _secret_of(item)}


def load(tenant: str, subscription_id: str) -> Subscription | None:
    if not ids.is_valid_id(subscription_id):
        return None
    item = dynamo.get(settings().hooks_table, subscription_key(tenant, subscription_id))
    return Subscription(item) if item else None


def get(tenant: str, subscription_id: str) -> Subscription:
    found = load(tenant, subscription_id)
    if found is None:
        raise NotFound("No such subscription.")
    return found


def of_tenant(tenant: str) -> list[Subscription]:
    """Every subscription of a tenant (one Query per 1 MB page; background use)."""
    items = dynamo.query_partition_all(
        settings().hooks_table, tenant, subscriptions_pk(tenant), consistent=True
    )
    return [Subscription(item) for item in items]


def list_page(
    tenant: str, limit: int, cursor: str | None
) -> tuple[list[SubscriptionView], str | None]:
    query = {"list": "subscriptions"}
    start = None
    if cursor:
        position = cursors.decode(cursor, tenant, query)
        start = {PK: subscriptions_pk(tenant), SK: str(position.get("after", ""))}
    page = dynamo.query_partition(
        settings().hooks_table,
        tenant,
        subscriptions_pk(tenant),
        limit=limit,
        start=start,
        consistent=True,
    )
    items = [Subscription(item).public() for item in page.items]
    next_cursor = None
    if page.last_key is not None and items:
        next_cursor = cursors.encode(tenant, query, {"after": items[-1]["subscription_id"]})
    return items, next_cursor


def delete(tenant: str, subscription_id: str) -> None:
    if not ids.is_valid_id(subscription_id):
        raise NotFound("No such subscription.")
    try:
        dynamo.delete(
            settings().hooks_table,
            subscription_key(tenant, subscription_id),
            condition="attribute_exists(#pk)",
            names={"#pk": PK},
        )
    except dynamo.ConditionFailed:
        raise NotFound("No such subscription.") from None


def rotate_secret(tenant: str, subscription_id: str) -> SecretRotatedView:
    """A new secret; the previous one keeps signing alongside for 24 h.

    One atomic update: concurrent rotations each get the secret of the state they
    produced (the later one's previous secret is the earlier one's new secret)."""
    until = int(clock.now()) + ROTATION_OVERLAP_SECONDS
    updated = update_existing(
        tenant,
        subscription_id,
        "SET prev_gen = secret_gen, prev_salt = salt, prev_until = :until, "
        "secret_gen = secret_gen + :one, salt = :salt",
        {},
        {":until": until, ":one": 1, ":salt": random_secrets.token_hex(16)},
    )
    return {
        "subscription_id": subscription_id,
        "secret": _secret_of(updated),
        "previous_secret_expires_at": clock.iso(until),
    }


def update_existing(
    tenant: str,
    subscription_id: str,
    expression: str,
    names: Mapping[str, str],
    values: Mapping[str, Any],
) -> dict[str, Any]:
    if not ids.is_valid_id(subscription_id):
        raise NotFound("No such subscription.")
    try:
        return dynamo.update(
            settings().hooks_table,
            subscription_key(tenant, subscription_id),
            expression,
            condition="attribute_exists(#pk)",
            names={"#pk": PK, **names},
            values=values,
            returns="ALL_NEW",
        )
    except dynamo.ConditionFailed:
        raise NotFound("No such subscription.") from None


# ---------------------------------------------------------------- delivery log


LOG_RETENTION_SECONDS = 30 * 86_400


def log_item(
    tenant: str,
    subscription_id: str,
    *,
    event_id: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    attempted_at: float,
    next_attempt_at: float | None,
) -> dict[str, Any]:
    return {
        PK: log_pk(tenant, subscription_id),
        SK: ids.new_id(),
        "event_id": event_id,
        "attempt": attempt,
        "status_code": status_code,
        "error": error,
        "duration_ms": duration_ms,
        "attempted_at": clock.iso(attempted_at),
        "next_attempt_at": clock.iso(next_attempt_at) if next_attempt_at is not None else None,
        TTL_ATTRIBUTE: int(attempted_at) + LOG_RETENTION_SECONDS,
    }
