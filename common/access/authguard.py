"""Failed-authentication budget: counted after the check, so it never refuses a good key.

Part 3 ("Hardening 2") replaced the Part 2 rule, whose budgets were spent *before*
the bcrypt check (a per-key-id bcrypt slot and a per-address budget of checks): 19
made-up keys from one address turned every uncached valid key behind that address
into a 429, and one wrong secret a second against a known key id did the same to
its owner.  Those budgets existed because a check cost ~240 ms (bcrypt cost 12).
Key secrets are 256 random bits, so the hash needs no slowness: at
`auth.BCRYPT_COST` a check costs about a millisecond, and nothing is rationed
before it any more.

Now every request is checked first.  A valid, unrevoked key is answered whatever
anyone else did.  Only a *failure* (a presented key that is malformed, unknown,
wrong or revoked) is counted, afterwards, in one conditional-free UpdateItem on
`AF#C#<client>` / `W#<window start>` (the keys table, TTL two windows):

* `used`: failures of this client (source IP) in the window; over
  `auth_client_budget` (default and at most 30 per 60 s) → 429;
* `k_<key id>`: failures of this client against that key id; over
  `auth_client_key_budget` (default 10 per window) → 429.

Over either, the failing request is answered 429 with `Retry-After` = the rest of
the window instead of 401.  A container remembers a client it saw over budget, so
further failures from it cost no write (the check itself, one GetItem and at most a
millisecond of bcrypt, is still made: it is what lets a valid key through).
A request without any key (no `Authorization`) costs nothing and is not counted.
"""

from __future__ import annotations

import math
import threading
from typing import NoReturn

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.errors import RateLimited
from common.runtime.observability import logger
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE

CLIENT_PREFIX = "AF#C#"
_MAX_REMEMBERED = 4096  # budgets known to be spent, per container, before old ones go


def client_pk(client: str) -> str:
    return f"{CLIENT_PREFIX}{client}"


def key_attribute(key_id: str) -> str:
    """The attribute counting one client's failures against `key_id` (ids are [a-z0-9])."""
    return f"k_{key_id}"


class AuthGuard:
    """One container's view of the shared failure counts (tests build several)."""

    def __init__(self) -> None:
        # (client, key id or "") -> window start in which that budget is known spent
        self._spent: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.aws_writes = 0  # DynamoDB writes made (tests read it)

    def failed(self, client: str, key_id: str | None) -> None:
        """Count one failed authentication; raise 429 (`RateLimited`) once over budget.

        Returns normally while within budget: the caller then answers 401."""
        now = clock.now()
        window = settings().auth_client_window_seconds
        start = int(now // window) * window
        retry_after = start + window - now
        if self._known_spent(client, key_id or "", start):
            _refuse(retry_after)
        names = {"#exp": TTL_ATTRIBUTE}
        expression = "ADD used :one"
        if key_id:
            names["#k"] = key_attribute(key_id)
            expression += ", #k :one"
        self.aws_writes += 1
        try:
            counts = dynamo.update(
                settings().keys_table,
                {PK: client_pk(client), SK: f"W#{start}"},
                expression + " SET #exp = :exp",
                names=names,
                values={":one": 1, ":exp": start + 2 * window},
                returns="UPDATED_NEW",
            )
        except Exception:
            # The budget protects the service; a store that cannot take the count must
            # not turn a plain 401 into a 503 (nor block anyone): log it and answer 401.
            logger.warning("failed-authentication count not recorded", exc_info=True)
            return
        over_client = int(counts.get("used", 0)) > settings().auth_client_budget
        over_key = bool(key_id) and int(counts.get(names.get("#k", ""), 0)) > (
            settings().auth_client_key_budget
        )
        if over_client or over_key:
            self._remember(client, "" if over_client else str(key_id), start)
            _refuse(retry_after)

    def _known_spent(self, client: str, key_id: str, start: int) -> bool:
        spent = self._spent
        return spent.get((client, "")) == start or (
            bool(key_id) and spent.get((client, key_id)) == start
        )

    def _remember(self, client: str, key_id: str, start: int) -> None:
        with self._lock:
            if len(self._spent) >= _MAX_REMEMBERED:
                for name in [n for n, s in self._spent.items() if s < start]:
                    del self._spent[name]
            while len(self._spent) >= _MAX_REMEMBERED:  # all current: drop the oldest
                del self._spent[next(iter(self._spent))]
            self._spent[(client, key_id)] = start


def _refuse(retry_after: float) -> NoReturn:
    catalogue.count("rate_limited")
    logger.info("authentication throttled", extra={"reason": "failed_auth_budget"})
    raise RateLimited(retry_after=max(1, math.ceil(retry_after)))


_guard = AuthGuard()


def guard() -> AuthGuard:
    return _guard


def reset() -> None:
    """Forget this container's memory (tests: a fresh instance)."""
    global _guard
    _guard = AuthGuard()
