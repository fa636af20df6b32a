"""Reset a process to what a fresh Lambda container has: used by tests and benchmarks."""

from __future__ import annotations


def reset_runtime() -> None:
    """Forget every per-container cache (clients, settings, keys, rate-limit leases, clock)."""
    from common.access import auth, authguard, ratelimit
    from common.runtime import clock, config
    from common.store import aws, secrets

    aws.reset_clients()
    config.reset_settings()
    secrets.reset_secrets()
    auth.clear_cache()
    authguard.reset()
    ratelimit.reset()
    clock.set_clock(None)
