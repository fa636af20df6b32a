"""Per-key rate limit: leased tokens, shared across instances, 429 with Retry-After."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from common.access import ratelimit
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import RateLimited
from common.runtime.http import Principal
from common.store import aws as clients
from common.store import ddb
from tests.conftest import ApiClient, Keys

START = 1_767_225_600.0  # a window boundary for 60 s windows


@pytest.fixture
def now() -> Iterator[list[float]]:
    moment = [START + 10]
    clock.set_clock(lambda: moment[0])
    yield moment
    clock.set_clock(None)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "10")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_WINDOW_SECONDS", "60")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_LEASE_MAX", "4")
    settings.cache_clear()


PRINCIPAL = Principal(tenant="acme", role="creator", key_id="k" * 16)


def _admitted(limiter: ratelimit.RateLimiter, attempts: int) -> int:
    admitted = 0
    for _ in range(attempts):
        try:
            limiter.check(PRINCIPAL)
            admitted += 1
        except RateLimited:
            pass
    return admitted


def _window_item() -> dict[str, object]:
    item = clients.dynamodb().get_item(
        TableName=settings().keys_table,
        Key=ddb.serialize({"pk": f"RL#{PRINCIPAL.key_id}", "sk": f"W#{int(START)}"}),
    )["Item"]
    return ddb.deserialize(item)


def _used() -> int:
    return int(str(_window_item()["used"]))


def test_lease_size_follows_the_limit(aws: None, small_limit: None) -> None:
    assert ratelimit.lease_size(10) == 1  # a tenth of the limit, at least one
    assert ratelimit.lease_size(600) == 4  # capped by DOCKHAND_RATE_LIMIT_LEASE_MAX


def test_default_limit_costs_one_update_per_twenty_requests(
    aws: None, now: list[float], aws_calls: Counter[str]
) -> None:
    limiter = ratelimit.RateLimiter()
    assert _admitted(limiter, 600) == 600
    assert aws_calls == Counter({"dynamodb.UpdateItem": 30})
    assert _admitted(limiter, 5) == 0
    assert aws_calls["dynamodb.UpdateItem"] == 31  # one refused lease, then refusals are local


def test_limit_holds_across_instances(
    aws: None, small_limit: None, now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_LEASE_MAX", "3")
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "30")
    settings.cache_clear()
    first, second = ratelimit.RateLimiter(), ratelimit.RateLimiter()
    # Interleaved traffic on two containers sharing one table.
    admitted = sum(_admitted(limiter, 1) for _ in range(40) for limiter in (first, second))
    assert admitted == 30
    assert _used() == 30


def test_a_failed_lease_takes_the_remaining_tokens(
    aws: None, small_limit: None, now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "50")
    settings.cache_clear()
    first, second = ratelimit.RateLimiter(), ratelimit.RateLimiter()  # leases of 4
    assert _admitted(first, 48) == 48  # twelve leases: 48 of 50 used
    # The second instance asks for 4, is refused, and leases the 2 that are left.
    assert _admitted(second, 5) == 2
    assert _used() == 50
    assert _admitted(first, 1) == 0


def test_next_window_starts_afresh(aws: None, small_limit: None, now: list[float]) -> None:
    limiter = ratelimit.RateLimiter()
    assert _admitted(limiter, 12) == 10
    now[0] = START + 60
    assert _admitted(limiter, 10) == 10


def test_429_has_retry_after_until_window_end(
    api: ApiClient, keys: Keys, small_limit: None, now: list[float]
) -> None:
    for _ in range(10):
        assert api.get("/inbox", key=keys.viewer).status == 200
    now[0] = START + 15.5
    result = api.get("/inbox", key=keys.viewer)
    assert (result.status, result.error_code) == (429, "rate_limited")
    assert result.headers["Retry-After"] == "45"  # ceil(60 - 15.5)
    # Another key of the same tenant has its own budget.
    assert api.get("/inbox", key=keys.creator).status == 200
    # Unauthenticated routes are not limited.
    assert api.get("/status").status == 200
    now[0] = START + 60
    assert api.get("/inbox", key=keys.viewer).status == 200


def test_limit_holds_across_containers_through_the_api(
    api: ApiClient, keys: Keys, small_limit: None, now: list[float]
) -> None:
    from tools.local.coldstate import reset_runtime

    statuses = []
    for _ in range(6):
        statuses.append(api.get("/inbox", key=keys.viewer).status)
        reset_runtime()  # next request lands on a cold container
        clock.set_clock(lambda: now[0])
        settings.cache_clear()
    for _ in range(6):
        statuses.append(api.get("/inbox", key=keys.viewer).status)
    assert statuses.count(200) == 10
    assert statuses[-2:] == [429, 429]


def test_the_stored_window_expires(aws: None, small_limit: None, now: list[float]) -> None:
    ratelimit.RateLimiter().check(PRINCIPAL)
    assert _window_item()["expires_at"] == int(START) + 120  # TTL: one window after its end


def test_charge_spends_units_all_or_nothing_across_instances(
    aws: None, now: list[float], small_limit: None
) -> None:
    """A JSON-RPC batch of N is N requests (common.mcp.protocol): charged at once, and a
    charge that does not fit spends nothing, in this instance or the shared window."""
    first, second = ratelimit.RateLimiter(), ratelimit.RateLimiter()
    first.charge(PRINCIPAL, 6)
    with pytest.raises(RateLimited) as refused:
        second.charge(PRINCIPAL, 5)  # 6 + 5 > 10
    assert refused.value.headers["Retry-After"] == "50"  # the rest of the window
    second.charge(PRINCIPAL, 4)  # exactly 10
    assert _used() == 10
    assert _admitted(first, 3) + _admitted(second, 3) == 0
    now[0] += 60  # a new window
    second.charge(PRINCIPAL, 10)
    with pytest.raises(RateLimited):
        first.charge(PRINCIPAL, 1)
