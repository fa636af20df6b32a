"""Events, dedup and idempotency, the inbox."""
