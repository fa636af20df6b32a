"""Per-key rate limiting shared by all function instances, at a fraction of a call per request.

Fixed windows of `rate_limit_window_seconds`; the window's count lives in the keys
table at pk `RL#<key_id>`, sk `W#<window_start>` (TTL one window after it ends).
A container does not count each request there: it *leases* tokens in batches with a
conditional `ADD used :n` (condition `attribute_not_exists(used) OR used <= limit - n`)
and spends them locally.  When a lease fails, the refusal's ALL_OLD tells how many
tokens are left and the container leases exactly those; when none are left it
refuses locally until the window ends, without asking again.

Accuracy (N containers, lease size B, limit L per window):
* never more than L requests admitted per key per window (leases sum to ≤ L); as with
  any fixed window, a burst straddling a boundary can see up to 2L within one
  window's length;
* at worst N·(B-1) leased tokens sit unused in other containers, so a client can be
  refused after L - N·(B-1) requests in a window (only when it spreads over N warm
  containers and then concentrates on one).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.errors import RateLimited
from common.runtime.http import Principal
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE


@dataclass
class _Lease:
    window_start: int
    tokens: int  # still spendable in this container
    exhausted: bool = False  # the shared count reached the limit: refuse until the window ends


def lease_size(limit: int) -> int:
    """Tokens per lease: small against the limit so idle leases waste little."""
    return max(1, min(settings().rate_limit_lease_max, limit // 10))


class RateLimiter:
    """One container's view of the shared windows (tests build several to act as instances)."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self.lease_calls = 0  # DynamoDB updates made (tests and benchmarks read it)

    def check(self, principal: Principal) -> None:
        """Spend one token of `principal`'s key; `RateLimited` when there is none."""
        self.charge(principal, 1)

    def charge(self, principal: Principal, units: int) -> None:
        """Spend `units` tokens at once (a JSON-RPC batch of N is N requests), or none
        and `RateLimited` when fewer are left: a refused request spends nothing."""
        if units <= 0:
            return
        limit = settings().rate_limit_requests
        window = settings().rate_limit_window_seconds
        now = clock.now()
        window_start = int(now // window) * window
        with self._lock:
            lease = self._leases.get(principal.key_id)
            if lease is None or lease.window_start != window_start:
                lease = _Lease(window_start, 0)
                self._leases[principal.key_id] = lease
            while lease.tokens < units and not lease.exhausted:
                wanted = max(lease_size(limit), units - lease.tokens)
                granted = self._lease(principal.key_id, window_start, window, limit, wanted)
                lease.tokens += granted
                lease.exhausted = granted == 0
            if lease.tokens < units:
                catalogue.count("rate_limited")
                raise RateLimited(retry_after=math.ceil(window_start + window - now))
            lease.tokens -= units

    def _lease(self, key_id: str, window_start: int, window: int, limit: int, wanted: int) -> int:
        """Tokens granted from the shared window: `wanted`, else what is left, else 0."""
        wanted = min(wanted, limit)
        while wanted > 0:
            granted, used = self._try_lease(key_id, window_start, window, limit, wanted)
            if granted:
                return wanted
            wanted = min(wanted - 1, limit - used) if used is not None else wanted - 1
        return 0

    def _try_lease(
        self, key_id: str, window_start: int, window: int, limit: int, n: int
    ) -> tuple[bool, int | None]:
        """(granted, tokens used so far when refused)."""
        self.lease_calls += 1
        try:
            dynamo.update(
                settings().keys_table,
                {PK: f"RL#{key_id}", SK: f"W#{window_start}"},
                "ADD used :n SET #exp = :exp",
                condition="attribute_not_exists(used) OR used <= :most",
                names={"#exp": TTL_ATTRIBUTE},
                values={":n": n, ":most": limit - n, ":exp": window_start + 2 * window},
                return_old_on_failure=True,
            )
            return True, None
        except dynamo.ConditionFailed as failed:
            used = (failed.item or {}).get("used")
            return False, int(used) if isinstance(used, int) else None


_limiter = RateLimiter()


def check(principal: Principal) -> None:
    """Raise `RateLimited` (429 with Retry-After) when `principal`'s key is over its limit."""
    _limiter.check(principal)


def charge(principal: Principal, units: int) -> None:
    """Count `units` more requests of `principal`'s key at once (all or none); 429 when
    they do not fit in what is left of the window."""
    _limiter.charge(principal, units)


def reset() -> None:
    """Forget this container's leases (tests: a fresh instance)."""
    global _limiter
    _limiter = RateLimiter()


def limiter() -> RateLimiter:
    return _limiter
