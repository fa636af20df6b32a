from common.store import aws as clients
from common.store import counters

MOMENT = 1_790_000_000.0  # 2026-09-21, UTC
DAY = "2026-09-21"


def test_counters_sum_increments_per_tenant_and_day(aws: None) -> None:
    counters.increment("acme", {"events_received": 2}, MOMENT)
    counters.increment("acme", {"events_received": 1, "notes_created": 1}, MOMENT)
    counters.increment("globex", {"events_received": 5}, MOMENT)
    assert counters.read_day("acme", DAY) == {"events_received": 3, "notes_created": 1}
    assert counters.read_day("acme", "2026-09-22") is None
    assert dict(counters.tenants_for_day(DAY)) == {
        "acme": {"events_received": 3, "notes_created": 1},
        "globex": {"events_received": 5},
    }


def test_counter_update_joins_a_transaction(aws: None) -> None:
    clients.dynamodb().transact_write_items(
        TransactItems=[counters.update_item("acme", {"heartbeats": 1}, MOMENT)]
    )
    assert counters.read_day("acme", DAY) == {"heartbeats": 1}
