"""Failed-authentication limits: one bcrypt check per key id per second, a small
budget of verifications per client, and a shared record of recently verified keys.

A key that misses the per-container cache (common.access.auth) costs a bcrypt check
(~240 ms of CPU at cost 12).  Without limits, anyone who knows or guesses a key id
can buy that CPU with wrong secrets, and the timing of a 401 tells whether the id
exists.  Three rules, all shared across containers through the keys table (pk
prefix `AF#`, the only items besides `RL#` the API functions may update):

* **bcrypt slot per key id** (`AF#K#<key_id>` / `GUARD`, attribute `slot`): a
  conditional `SET slot = :second` (condition `slot < :second`) grants one bcrypt
  check per key id per wall-clock second, whoever asks; the others answer 429 with
  `Retry-After: 1`.  A successful check gives its slot back in the same write that
  records the verified key, so only failures spend the budget.
* **verified-key record** (same item, `verified` / `verified_until`): after a
  successful check, SHA-256 of the whole key (domain-separated; the secret has 256
  random bits, so the digest reveals nothing) for `key_cache_seconds`.  A cold
  container reads it back from the slot write's ALL_OLD answer (or from memory) and
  accepts the key without bcrypt, so a valid key keeps working in every container
  while its id is hammered, and a scale-out burst of one key needs one bcrypt, not one
  per container.  The key item is still read on every cache miss: revocation stays
  immediate on this path.
* **client budget** (`AF#C#<source ip>` / `W#<window>`): at most
  `auth_client_budget` bcrypt checks per client per `auth_client_window_seconds`
  (default 20 per 60 s), reserved with a conditional ADD before the check (so the
  bound is exact across containers) and refunded when the check succeeds; over it,
  429 with `Retry-After` = the rest of the window.  Unknown key ids count here like
  wrong secrets: each one is a dummy bcrypt.

Unknown ids and wrong secrets take the same path (key read, slot, client budget,
one bcrypt against the stored hash or a dummy hash of the same cost, 401), so
neither the status nor the timing says whether a key id exists.

In-container pre-checks keep an attack cheap: a client known to be over its budget,
or a key id whose slot this container saw taken this second, is refused without any
AWS call.  Memory per container is bounded (old entries are pruned).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from common.runtime import catalogue, clock
from common.runtime.config import settings
from common.runtime.errors import RateLimited
from common.runtime.observability import logger
from common.store import dynamo
from common.store.tables import PK, SK, TTL_ATTRIBUTE

KEY_PREFIX = "AF#K#"
CLIENT_PREFIX = "AF#C#"
GUARD_SK = "GUARD"
_MAX_REMEMBERED = 4096  # entries per map before old ones are pruned


def key_guard_pk(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}"


def client_pk(client: str) -> str:
    return f"{CLIENT_PREFIX}{client}"


def verified_digest(token: str) -> str:
    """What the verified-key record stores: never the key, never reversible."""
    return hashlib.sha256(b"dockhand-verified-key\x00" + token.encode()).hexdigest()


@dataclass
class _KeyMemory:
    slot_taken: int = -1  # a second whose bcrypt slot is known to be spent
    verified: str = ""
    verified_until: float = 0.0


@dataclass
class Claim:
    """The outcome of asking for a key id's bcrypt slot."""

    second: int
    previous_slot: int | None  # to give the slot back after a success
    verified_match: bool  # the shared record already vouches for this key


class AuthGuard:
    """One container's view of the shared limits (tests build several as instances)."""

    def __init__(self) -> None:
        self._keys: dict[str, _KeyMemory] = {}
        self._clients: dict[str, int] = {}  # client -> window start known to be exhausted
        self._lock = threading.Lock()
        self.aws_writes = 0  # DynamoDB writes made (tests read it)

    # ------------------------------------------------------------------ local checks

    def known_verified(self, key_id: str, digest: str) -> bool:
        """This container saw the shared record vouch for this very key (no AWS call)."""
        memory = self._keys.get(key_id)
        return (
            memory is not None
            and memory.verified_until > clock.now()
            and hmac.compare_digest(memory.verified, digest)
        )

    def precheck(self, key_id: str, client: str) -> None:
        """Refuse without any AWS call what this container already knows is over budget."""
        now = clock.now()
        window = settings().auth_client_window_seconds
        start = _window_start(now, window)
        if self._clients.get(client) == start:
            _refuse("client_budget", retry_after=start + window - now)
        memory = self._keys.get(key_id)
        if memory is not None and memory.slot_taken >= int(now):
            _refuse("key_slot", retry_after=1)

    # ------------------------------------------------------------------ shared state

    def claim(self, key_id: str, digest: str) -> Claim:
        """This key id's bcrypt slot for the current second, or 429 (`RateLimited`)."""
        second = int(clock.now())
        self.aws_writes += 1
        try:
            old = dynamo.update(
                settings().keys_table,
                {PK: key_guard_pk(key_id), SK: GUARD_SK},
                "SET slot = :s, #exp = if_not_exists(#exp, :exp)",
                condition="attribute_not_exists(slot) OR slot < :s",
                names={"#exp": TTL_ATTRIBUTE},
                values={":s": second, ":exp": second + 120},
                returns="ALL_OLD",
                return_old_on_failure=True,
            )
        except dynamo.ConditionFailed as failed:
            match = self._remember(key_id, second, failed.item or {}, digest)
            if match:
                return Claim(second, None, verified_match=True)
            _refuse("key_slot", retry_after=1)
        match = self._remember(key_id, second, old, digest)
        previous = old.get("slot")
        return Claim(second, previous if isinstance(previous, int) else None, match)

    def reserve_client(self, client: str) -> None:
        """One bcrypt check from `client`'s budget, or 429 (`RateLimited`)."""
        now = clock.now()
        budget = settings().auth_client_budget
        window = settings().auth_client_window_seconds
        start = _window_start(now, window)
        self.aws_writes += 1
        try:
            dynamo.update(
                settings().keys_table,
                {PK: client_pk(client), SK: f"W#{start}"},
                "ADD used :one SET #exp = :exp",
                condition="attribute_not_exists(used) OR used < :budget",
                names={"#exp": TTL_ATTRIBUTE},
                values={":one": 1, ":budget": budget, ":exp": start + 2 * window},
            )
        except dynamo.ConditionFailed:
            with self._lock:
                self._prune(self._clients, lambda exhausted: exhausted < start)
                self._clients[client] = start
            _refuse("client_budget", retry_after=start + window - now)

    def succeeded(self, key_id: str, claim: Claim, digest: str, client: str) -> None:
        """Record the verified key, give the slot back, refund the client's check."""
        now = clock.now()
        until = int(now) + settings().key_cache_seconds
        key = {PK: key_guard_pk(key_id), SK: GUARD_SK}
        values: dict[str, Any] = {":v": digest, ":u": until, ":exp": until + 120}
        if claim.previous_slot is None:
            expression = "SET verified = :v, verified_until = :u, #exp = :exp REMOVE slot"
        else:
            expression = "SET verified = :v, verified_until = :u, #exp = :exp, slot = :prev"
            values[":prev"] = claim.previous_slot
        self.aws_writes += 2
        dynamo.update(
            settings().keys_table, key, expression, names={"#exp": TTL_ATTRIBUTE}, values=values
        )
        start = _window_start(now, settings().auth_client_window_seconds)
        # The window may have turned since the reservation: then there is nothing to refund.
        with contextlib.suppress(dynamo.ConditionFailed):
            dynamo.update(
                settings().keys_table,
                {PK: client_pk(client), SK: f"W#{start}"},
                "ADD used :minus",
                condition="used > :zero",
                values={":minus": -1, ":zero": 0},
            )
        with self._lock:
            memory = self._keys.setdefault(key_id, _KeyMemory())
            memory.verified, memory.verified_until = digest, float(until)
            if memory.slot_taken == claim.second:
                memory.slot_taken = -1

    # ------------------------------------------------------------------ memory

    def _remember(self, key_id: str, second: int, item: dict[str, Any], digest: str) -> bool:
        """Note the slot as spent and the shared record; True if it vouches for `digest`."""
        verified = item.get("verified")
        until = item.get("verified_until")
        with self._lock:
            self._prune(
                self._keys, lambda m: m.slot_taken < second - 1 and m.verified_until < second
            )
            memory = self._keys.setdefault(key_id, _KeyMemory())
            memory.slot_taken = max(memory.slot_taken, second)
            if isinstance(verified, str) and isinstance(until, int):
                memory.verified, memory.verified_until = verified, float(until)
        return (
            isinstance(verified, str)
            and isinstance(until, int)
            and until > clock.now()
            and hmac.compare_digest(verified, digest)
        )

    @staticmethod
    def _prune(entries: dict[str, Any], stale: Any) -> None:
        if len(entries) < _MAX_REMEMBERED:
            return
        for name in [n for n, value in entries.items() if stale(value)]:
            del entries[name]
        while len(entries) >= _MAX_REMEMBERED:  # all fresh: drop the oldest inserted
            del entries[next(iter(entries))]


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Concurrent cache misses for the same key in one container wait for the first
    one's verification instead of each asking for a bcrypt slot (which only one of
    them would get: the rest would be 429s for a valid key).  On Lambda a container
    serves one request at a time; the local gateway serves many on threads."""

    def __init__(self) -> None:
        self._flights: dict[bytes, _Flight] = {}
        self._lock = threading.Lock()

    def run(self, token_digest: bytes, verify: Any, wait_seconds: float = 30.0) -> Any:
        with self._lock:
            flight = self._flights.get(token_digest)
            leader = flight is None
            if flight is None:
                flight = self._flights[token_digest] = _Flight()
        if not leader:
            if flight.done.wait(wait_seconds) and flight.error is None:
                return flight.result
            if flight.error is not None:
                raise flight.error from None  # the leader's answer (ApiErrors carry no state)
            return verify()  # the leader is stuck: verify on our own
        try:
            flight.result = verify()
            return flight.result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            flight.done.set()
            with self._lock:
                self._flights.pop(token_digest, None)


def _window_start(now: float, window: int) -> int:
    return int(now // window) * window


def _refuse(reason: str, *, retry_after: float) -> NoReturn:
    catalogue.count("rate_limited")
    logger.info("authentication throttled", extra={"reason": reason})
    raise RateLimited(retry_after=math.ceil(retry_after))


_guard = AuthGuard()
_flights = SingleFlight()


def guard() -> AuthGuard:
    return _guard


def single_flight() -> SingleFlight:
    return _flights


def reset() -> None:
    """Forget this container's memory (tests: a fresh instance)."""
    global _guard, _flights
    _guard = AuthGuard()
    _flights = SingleFlight()
