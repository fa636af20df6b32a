"""Per-key rate limiting shared by all function instances (filled in by the triggers work)."""

from __future__ import annotations

from common.http import Principal


def check(principal: Principal) -> None:
    """Raise `RateLimited` when `principal`'s key is over its limit."""
    return None
