"""Configuration from environment variables, read and validated once per container."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from common import __version__


class ConfigError(RuntimeError):
    """A setting is missing or out of range: the function must not start."""


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _ports(name: str) -> frozenset[int]:
    """A comma-separated list of TCP ports (empty when unset)."""
    ports = set()
    for part in _str(name, "").split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit() or not 1 <= int(part) <= 65535:
            raise ConfigError(f"{name} must be comma-separated ports, got {part.strip()!r}")
        ports.add(int(part))
    return frozenset(ports)


@dataclass(frozen=True)
class Settings:
    """Everything a function reads from its environment."""

    version: str
    region: str
    keys_table: str
    events_table: str
    context_table: str
    agents_table: str
    stats_table: str
    snapshots_bucket: str
    rate_limit_requests: int
    rate_limit_window_seconds: int
    rate_limit_lease_max: int
    key_cache_seconds: int
    auth_client_budget: int
    auth_client_key_budget: int
    auth_client_window_seconds: int
    dedup_window_seconds: int
    idempotency_ttl_seconds: int
    delivered_retention_days: int
    inbox_shards: int
    counter_shards: int
    heartbeat_interval_seconds: int
    agent_shards: int
    thread_delete_budget_seconds: int
    hooks_table: str = "dockhand-hooks"
    delivery_queue_url: str = ""
    allow_loopback_targets: bool = False
    loopback_reserved_ports: frozenset[int] = frozenset()
    retry_divisor: int = 1
    due_shards: int = 4
    delivery_tenant_slots: int = 10
    delivery_subscription_slots: int = 2
    max_attempts: int = 5
    mcp_allowed_origins: frozenset[str] = frozenset()


def load_settings() -> Settings:
    prefix = _str("DOCKHAND_TABLE_PREFIX", "dockhand")
    return Settings(
        version=_str("DOCKHAND_VERSION", __version__),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        keys_table=_str("DOCKHAND_KEYS_TABLE", f"{prefix}-keys"),
        events_table=_str("DOCKHAND_EVENTS_TABLE", f"{prefix}-events"),
        context_table=_str("DOCKHAND_CONTEXT_TABLE", f"{prefix}-context"),
        agents_table=_str("DOCKHAND_AGENTS_TABLE", f"{prefix}-agents"),
        stats_table=_str("DOCKHAND_STATS_TABLE", f"{prefix}-stats"),
        snapshots_bucket=_str("DOCKHAND_SNAPSHOTS_BUCKET", f"{prefix}-snapshots"),
        rate_limit_requests=_int("DOCKHAND_RATE_LIMIT_REQUESTS", 600, 1, 1_000_000),
        rate_limit_window_seconds=_int("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", 60, 1, 3600),
        # Tokens a container leases per DynamoDB update (see common/access/ratelimit.py).
        rate_limit_lease_max=_int("DOCKHAND_RATE_LIMIT_LEASE_MAX", 20, 1, 1000),
        # The cache bounds how long a revoked key keeps working: the contract says 60 s.
        key_cache_seconds=_int("DOCKHAND_KEY_CACHE_SECONDS", 60, 0, 60),
        # Failed authentications one client (source IP) may make per window, in all and
        # against one key id, before 429 (common/access/authguard.py; the contract: ≤ 30).
        auth_client_budget=_int("DOCKHAND_AUTH_CLIENT_BUDGET", 30, 1, 30),
        auth_client_key_budget=_int("DOCKHAND_AUTH_CLIENT_KEY_BUDGET", 10, 1, 30),
        auth_client_window_seconds=_int("DOCKHAND_AUTH_CLIENT_WINDOW_SECONDS", 60, 60, 3600),
        dedup_window_seconds=_int("DOCKHAND_DEDUP_WINDOW_SECONDS", 300, 1, 86_400),
        idempotency_ttl_seconds=_int("DOCKHAND_IDEMPOTENCY_TTL_SECONDS", 86_400, 60, 604_800),
        delivered_retention_days=_int("DOCKHAND_DELIVERED_RETENTION_DAYS", 7, 1, 365),
        inbox_shards=_int("DOCKHAND_INBOX_SHARDS", 1, 1, 64),
        counter_shards=_int("DOCKHAND_COUNTER_SHARDS", 1, 1, 64),
        heartbeat_interval_seconds=_int("DOCKHAND_HEARTBEAT_INTERVAL_SECONDS", 30, 5, 3600),
        # Partitions of the sweeper's index (agents gsi2): each takes ~1,000 heartbeats/s.
        agent_shards=_int("DOCKHAND_AGENT_SHARDS", 4, 1, 64),
        # DELETE /threads works this long, then answers 202 and continues on the next call
        # (the hydrate function's timeout is 20 s; API Gateway gives up at 30 s).
        thread_delete_budget_seconds=_int("DOCKHAND_THREAD_DELETE_BUDGET_SECONDS", 10, 0, 25),
        # Push delivery (docs/triggers.md): subscriptions, delivery state and log.
        hooks_table=_str("DOCKHAND_HOOKS_TABLE", f"{prefix}-hooks"),
        delivery_queue_url=_str("DOCKHAND_DELIVERY_QUEUE_URL", ""),
        # `make run` alone sets this: http(s)://127.0.0.1 and localhost receivers.
        allow_loopback_targets=_str("DOCKHAND_ALLOW_LOOPBACK_TARGETS", "").lower()
        in {"1", "true", "yes", "on"},
        # Loopback ports no receiver may use even then: make run's gateway and emulator.
        loopback_reserved_ports=_ports("DOCKHAND_LOOPBACK_RESERVED_PORTS"),
        # Retry delays are divided by this (locally 3600 makes 10 h take 10 s).
        retry_divisor=_int("DOCKHAND_RETRY_DIVISOR", 1, 1, 10_000_000),
        # Partitions of the due-time index of retries (hooks gsi1).
        due_shards=_int("DOCKHAND_DUE_SHARDS", 4, 1, 64),
        # Fair delivery (docs/capacity.md): sends in flight at once per tenant and per
        # subscription; past them a message waits in the queue, not in a worker.
        delivery_tenant_slots=_int("DOCKHAND_DELIVERY_TENANT_SLOTS", 10, 1, 1000),
        delivery_subscription_slots=_int("DOCKHAND_DELIVERY_SUBSCRIPTION_SLOTS", 2, 1, 100),
        # Leases of one event before it is quarantined (common/triggers/leases.py).
        max_attempts=_int("DOCKHAND_MAX_ATTEMPTS", 5, 1, 100),
        # Browser origins POST /mcp accepts (comma-separated); MCP clients send no Origin.
        mcp_allowed_origins=frozenset(
            o.strip() for o in _str("DOCKHAND_MCP_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this container, validated on first use (at cold start)."""
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    settings.cache_clear()
