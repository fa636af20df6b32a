"""The shared runtime: ids, clock, config validation, cursors, derived secrets."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from common.runtime import clock, config, ids
from common.runtime.config import ConfigError, load_settings
from common.runtime.errors import InvalidCursor
from common.store import cursor, secrets

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    config.reset_settings()
    secrets.reset_secrets()
    clock.set_clock(None)
    yield
    config.reset_settings()
    secrets.reset_secrets()
    clock.set_clock(None)


# ----------------------------------------------------------------- ids


def test_ids_sort_in_creation_order_across_milliseconds() -> None:
    moments = iter([1_700_000_000.001, 1_700_000_000.002, 1_700_000_005.0, 1_800_000_000.0])
    clock.set_clock(lambda: next(moments))

    made = [ids.new_id() for _ in range(4)]

    assert made == sorted(made)
    assert all(ids.is_valid_id(i) for i in made)


def test_ids_within_one_millisecond_still_sort_in_creation_order() -> None:
    clock.set_clock(lambda: 1_700_000_000.5)

    made = [ids.new_id() for _ in range(1000)]

    assert made == sorted(made)
    assert len(set(made)) == 1000


def test_a_clock_step_backwards_does_not_break_the_order() -> None:
    moments = iter([1_700_000_010.0, 1_700_000_000.0, 1_700_000_000.0])
    clock.set_clock(lambda: next(moments))

    made = [ids.new_id() for _ in range(3)]

    assert made == sorted(made)
    assert len(set(made)) == 3


def test_ids_are_unique_and_ordered_per_thread_under_concurrency() -> None:
    per_thread: dict[int, list[str]] = {}
    start = threading.Barrier(8)

    def make(n: int) -> None:
        start.wait()
        per_thread[n] = [ids.new_id() for _ in range(500)]

    threads = [threading.Thread(target=make, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [i for made in per_thread.values() for i in made]
    assert len(set(everything)) == 8 * 500
    assert all(made == sorted(made) for made in per_thread.values())


def test_id_validation() -> None:
    assert ids.is_valid_id(ids.new_id())
    assert not ids.is_valid_id("")
    assert not ids.is_valid_id("01JDC4Y7Q8M2N3P4R5S6T7V8W")  # 25 chars
    assert not ids.is_valid_id("01JDC4Y7Q8M2N3P4R5S6T7V8WU")  # U is not Crockford
    assert not ids.is_valid_id("01jdc4y7q8m2n3p4r5s6t7v8w9")  # lower case


# ----------------------------------------------------------------- clock


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_795_425_300.5, "2026-11-23T09:15:00.500Z"),
        (1_795_425_300.9999, "2026-11-23T09:15:00.999Z"),  # truncated, never rounded up
        (datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "2026-01-02T03:04:05.006Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000Z",
        ),
    ],
)
def test_iso_is_rfc3339_utc_with_milliseconds_and_z(
    moment: float | datetime, expected: str
) -> None:
    assert clock.iso(moment) == expected
    assert ISO.fullmatch(clock.iso(moment))


def test_iso_of_now_uses_the_injected_clock() -> None:
    clock.set_clock(lambda: 1_795_425_300.25)

    assert clock.iso(clock.now()) == "2026-11-23T09:15:00.250Z"
    assert clock.day_of(clock.now()) == "2026-11-23"


@pytest.mark.parametrize(
    "text",
    ["2026-11-23T09:15:00Z", "2026-11-23T09:15:00.000Z", "2026-11-23T10:15:00+01:00"],
)
def test_parse_iso_accepts_offsets(text: str) -> None:
    assert clock.parse_iso(text) == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-23T09:15:00", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_iso_refuses_naive_or_invalid_times(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        clock.parse_iso(text)


# ----------------------------------------------------------------- config


def test_defaults_are_valid() -> None:
    settings = load_settings()

    assert settings.key_cache_seconds == 60
    assert settings.rate_limit_requests == 600
    assert settings.rate_limit_window_seconds == 60
    assert settings.keys_table == "dockhand-test-keys"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOCKHAND_RATE_LIMIT_REQUESTS", "lots", "must be an integer"),
        ("DOCKHAND_RATE_LIMIT_REQUESTS", "0", "between 1 and"),
        ("DOCKHAND_RATE_LIMIT_REQUESTS", "1.5", "must be an integer"),
        ("DOCKHAND_KEY_CACHE_SECONDS", "61", "between 0 and 60"),
        ("DOCKHAND_KEY_CACHE_SECONDS", "-1", "between 0 and 60"),
        # The contract: at most 30 failed authentications a minute per client.
        ("DOCKHAND_AUTH_CLIENT_BUDGET", "31", "between 1 and 30"),
        ("DOCKHAND_AUTH_CLIENT_WINDOW_SECONDS", "59", "between 60 and 3600"),
        ("DOCKHAND_DELIVERED_RETENTION_DAYS", "0", "between 1 and 365"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()

    assert name in str(caught.value)


def test_key_cache_of_60_seconds_is_the_maximum_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_KEY_CACHE_SECONDS", "60")

    assert load_settings().key_cache_seconds == 60


def test_empty_value_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "")

    assert load_settings().rate_limit_requests == 600


def test_settings_are_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    first = config.settings()
    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "7")

    assert config.settings() is first
    config.reset_settings()
    assert config.settings().rate_limit_requests == 7


def test_table_prefix_names_every_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_TABLE_PREFIX", "px")
    monkeypatch.setenv("DOCKHAND_EVENTS_TABLE", "custom-events")

    settings = load_settings()

    assert (settings.keys_table, settings.events_table) == ("px-keys", "custom-events")
    assert settings.snapshots_bucket == "px-snapshots"


# ----------------------------------------------------------------- secrets


def test_derived_keys_differ_per_purpose_and_master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor_key = secrets.derived_key("cursor")
    agent_key = secrets.derived_key("agent")
    monkeypatch.setenv("DOCKHAND_MASTER_KEY", "another-master-key-0123456789abcdefghij")
    secrets.reset_secrets()

    assert cursor_key != agent_key
    assert secrets.derived_key("cursor") != cursor_key
    assert len(cursor_key) == 32


def test_a_short_master_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_MASTER_KEY", "short")

    with pytest.raises(ConfigError, match="at least 32"):
        secrets.derived_key("cursor")


def test_no_master_key_at_all_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKHAND_MASTER_KEY")
    monkeypatch.delenv("DOCKHAND_MASTER_KEY_SECRET_ID", raising=False)

    with pytest.raises(ConfigError, match="DOCKHAND_MASTER_KEY"):
        secrets.derived_key("cursor")


# ----------------------------------------------------------------- cursors

QUERY = {"thread_id": "t1", "kind": "note", "limit": 50}
POSITION = {"pk": "T#acme#N#01J", "sk": "N", "gsi1sk": "01JDC50A1B2C3D4E5F6G7H8J9K"}


def test_cursor_round_trips() -> None:
    token = cursor.encode("acme", QUERY, POSITION)

    assert cursor.decode(token, "acme", dict(reversed(QUERY.items()))) == POSITION


def test_cursor_is_opaque_url_safe_text() -> None:
    token = cursor.encode("acme", QUERY, POSITION)

    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)


def test_another_tenant_cannot_use_the_cursor() -> None:
    token = cursor.encode("acme", QUERY, POSITION)

    with pytest.raises(InvalidCursor):
        cursor.decode(token, "globex", QUERY)


@pytest.mark.parametrize(
    "other_query",
    [
        {**QUERY, "thread_id": "t2"},
        {**QUERY, "kind": "todo"},
        {**QUERY, "limit": 51},
        {"thread_id": "t1", "kind": "note"},
        {**QUERY, "extra": None},
    ],
)
def test_the_cursor_is_bound_to_its_query(other_query: dict[str, object]) -> None:
    token = cursor.encode("acme", QUERY, POSITION)

    with pytest.raises(InvalidCursor):
        cursor.decode(token, "acme", other_query)


def _tamper_payload(token: str) -> str:
    payload, mac = token.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    position["pk"] = "T#globex#N#01J"
    forged = base64.urlsafe_b64encode(json.dumps(position).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


def _flip_mac(token: str) -> str:
    payload, mac = token.split(".")
    return f"{payload}.{('A' if mac[0] != 'A' else 'B')}{mac[1:]}"


@pytest.mark.parametrize(
    "alter",
    [
        _tamper_payload,
        _flip_mac,
        lambda t: t.split(".")[0],  # mac dropped
        lambda t: t + "x",
        lambda t: t[:-2],
        lambda t: "." + t.split(".")[1],
    ],
    ids=["payload", "mac", "no-mac", "appended", "truncated", "no-payload"],
)
def test_altered_cursors_are_refused(alter: object) -> None:
    token = cursor.encode("acme", QUERY, POSITION)
    altered = alter(token)  # type: ignore[operator]

    with pytest.raises(InvalidCursor):
        cursor.decode(altered, "acme", QUERY)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "not.base64!", "%%%.%%%", "a.b.c", "🚀.🚀"])
def test_garbage_cursors_are_refused_not_crashing(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        cursor.decode(garbage, "acme", QUERY)


def test_a_cursor_from_another_deployment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = cursor.encode("acme", QUERY, POSITION)
    monkeypatch.setenv("DOCKHAND_MASTER_KEY", "another-master-key-0123456789abcdefghij")
    secrets.reset_secrets()

    with pytest.raises(InvalidCursor):
        cursor.decode(token, "acme", QUERY)


def test_invalid_cursor_is_the_contract_error() -> None:
    error = InvalidCursor()

    assert (error.status, error.code) == (400, "invalid_cursor")
