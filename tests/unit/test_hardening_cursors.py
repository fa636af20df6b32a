"""Hardening, class 5: a cursor is accepted only in the exact form the server issued.

Every cursor-bearing list route (found in the OpenAPI document: a `cursor` query
parameter) is seeded with two items, asked for a page of one, and then sent every
other spelling of the cursor it gave: padding, the standard base64 alphabet,
whitespace anywhere, trailing bytes, non-zero unused bits, lookalike characters,
extra separators.  Each must be 400 `invalid_cursor`; the genuine one must work.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.runtime.errors import InvalidCursor
from common.store import cursor
from tests.conftest import ApiClient, Keys

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((REPO / "common" / "openapi.json").read_text("utf-8"))
WHITESPACE = (" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003")


def _cursor_routes() -> set[str]:
    found = set()
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
                found.add(f"{method.upper()} {path}")
    return found


# --------------------------------------------------------------------------- seeding

Seeder = Callable[[ApiClient, Keys], dict[str, str]]


def _ok(result: Any) -> None:
    assert result.status in (200, 201), result.text


def _events(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        _ok(
            api.post(
                "/events", key=keys.creator, json_body={"event_type": "t", "payload": {"n": n}}
            )
        )
    return {}


def _agents(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        _ok(api.post("/agents", key=keys.creator, json_body={"name": f"agent-{n}"}))
    return {}


def _notes(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        _ok(api.post("/notes", key=keys.creator, json_body={"thread_id": "t1", "text": f"{n}"}))
    return {"thread_id": "t1"}


def _snapshots(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        body = {"thread": {"id": "t1", "goal": f"goal {n}"}}
        _ok(api.post("/hydrate", key=keys.creator, json_body=body))
    return {"thread_id": "t1"}


def _threads(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        _ok(api.post("/notes", key=keys.creator, json_body={"thread_id": f"t{n}", "text": "x"}))
    return {}


def _queues(api: ApiClient, keys: Keys) -> dict[str, str]:
    for n in range(3):
        _ok(api.post("/queues", key=keys.creator, json_body={"name": f"q{n}"}))
    return {}


SEEDERS: dict[str, Seeder] = {
    "GET /inbox": _events,
    "GET /queues": _queues,
    "GET /agents": _agents,
    "GET /notes": _notes,
    "GET /snapshots": _snapshots,
    "GET /threads": _threads,
}


# Lists whose items need a whole scenario to exist (status changes, failed deliveries,
# exhausted leases).  Their cursors go through the same store.cursor.decode as every
# other list; their own modules test binding to tenant and query
# (test_agent_lifecycle.py, test_leases_quarantine.py, the push delivery tests).
SEEDED_ELSEWHERE = {
    "GET /agents/{agent_id}/history",
    "GET /subscriptions",
    "GET /subscriptions/{subscription_id}/deliveries",
    "GET /inbox/quarantine",
}


def test_every_cursor_bearing_list_route_is_covered() -> None:
    # A new list route fails here until it is seeded above (and so tested below).
    assert _cursor_routes() == set(SEEDERS) | SEEDED_ELSEWHERE


# --------------------------------------------------------------------------- variants


def _b64_std(part: str) -> str:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    return base64.b64encode(raw).decode()


def _stray_bits(part: str) -> Iterator[str]:
    """The same bytes with non-zero unused bits in the last character."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    spare = {2: 4, 3: 2}.get(len(part) % 4, 0)  # unused low bits of the last character
    if not spare:
        return
    last = alphabet.index(part[-1])
    for low in range(1, 1 << spare):
        yield part[:-1] + alphabet[(last & ~((1 << spare) - 1)) | low]


def variants(token: str) -> Iterator[str]:
    """Every other spelling of `token` that a lenient decoder might take for it."""
    payload, mac = token.split(".")
    for pad in ("=", "==", "===", "===="):
        yield f"{payload}{pad}.{mac}"
        yield f"{payload}.{mac}{pad}"
    yield f"{_b64_std(payload)}.{_b64_std(mac)}"  # padded standard alphabet
    yield f"{_b64_std(payload).rstrip('=')}.{_b64_std(mac).rstrip('=')}"
    yield token.replace("-", "+").replace("_", "/")
    for space in WHITESPACE:
        yield space + token
        yield token + space
        yield token[: len(token) // 2] + space + token[len(token) // 2 :]
        yield f"{payload}{space}.{mac}"
    for tail in ("A", "AA", "AAAA", ".", ".x", "=", "\x00", "%3D", "?", "#"):
        yield token + tail
    for head in ("A", ".", "=", "\x00"):
        yield head + token
    yield f"{payload}..{mac}"
    yield f"{payload}.{mac}.{mac}"
    yield from (f"{p}.{mac}" for p in _stray_bits(payload))
    yield from (f"{payload}.{m}" for m in _stray_bits(mac))
    yield token.swapcase()
    # Fullwidth lookalikes of the first ASCII letter or digit.
    for index, char in enumerate(token):
        if char.isascii() and char.isalnum():
            yield token[:index] + chr(ord(char) + 0xFEE0) + token[index + 1 :]
            break


def _first_cursor(api: ApiClient, keys: Keys, route: str) -> tuple[str, dict[str, str]]:
    query = SEEDERS[route](api, keys)
    path = route.split(" ", 1)[1]
    first = api.get(path, key=keys.creator, query={**query, "limit": "1"})
    assert first.status == 200, first.text
    token = first.json["next_cursor"]
    assert isinstance(token, str)
    assert token
    return token, query


@pytest.mark.parametrize("route", sorted(SEEDERS))
def test_only_the_issued_spelling_of_a_cursor_is_accepted(
    api: ApiClient, keys: Keys, route: str
) -> None:
    token, query = _first_cursor(api, keys, route)
    path = route.split(" ", 1)[1]
    genuine = api.get(path, key=keys.creator, query={**query, "limit": "1", "cursor": token})
    assert genuine.status == 200, genuine.text
    tried = 0
    for variant in dict.fromkeys(variants(token)):
        if variant == token:
            continue
        tried += 1
        result = api.get(path, key=keys.creator, query={**query, "limit": "1", "cursor": variant})
        assert result.status == 400, (route, repr(variant), result.text)
        assert result.error_code in {"invalid_cursor", "validation_error"}, result.text
        if variant.strip() and len(variant) <= 4096:
            assert result.error_code == "invalid_cursor", (route, repr(variant), result.text)
    assert tried >= 40


# --------------------------------------------------------------------------- the decoder

QUERY = {"thread_id": "t", "kind": None}


def _positions() -> Iterator[dict[str, Any]]:
    rng = random.Random(15)
    yield {}
    yield {"pk": "T#acme", "sk": "N#01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    for _ in range(30):
        yield {f"k{n}": "x" * rng.randint(0, 9) for n in range(rng.randint(1, 4))}


@pytest.fixture
def keyed(aws: None) -> None:
    """The master key comes from the environment (tests/conftest.py)."""


@pytest.mark.usefixtures("keyed")
def test_decoder_refuses_whitespace_at_every_index_and_every_variant() -> None:
    for position in _positions():
        token = cursor.encode("acme", QUERY, position)
        assert cursor.decode(token, "acme", QUERY) == position
        spellings = list(variants(token))
        spellings += [token[:i] + s + token[i:] for i in range(len(token) + 1) for s in " \n"]
        for spelling in spellings:
            if spelling == token:
                continue
            with pytest.raises(InvalidCursor):
                cursor.decode(spelling, "acme", QUERY)


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("junk", ["", ".", "a.", ".a", "a", "abcde.abcde", "ab=c.def", "a b.c"])
def test_decoder_refuses_malformed_tokens(junk: str) -> None:
    with pytest.raises(InvalidCursor):
        cursor.decode(junk, "acme", QUERY)
