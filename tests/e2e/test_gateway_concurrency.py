"""`make run` under 64 concurrent clients keeps the contract's guarantees: no reset,
no 5xx, nothing half-applied, nothing answered 201 missing later, one winner per
Idempotency-Key and per duplicate, reads after writes see the write.

Every round starts its 64 clients on a barrier so the requests really overlap (the
emulator's DynamoDB is not thread-safe on its own: tools.local.gateway serialises it).
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Gateway, start_gateway, stop_gateway

CLIENTS = 64
pytestmark = pytest.mark.e2e
T = TypeVar("T")


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # One key drives every client: the per-key limit would turn this into a 429 test.
    running = start_gateway(
        tmp_path_factory.mktemp("busy"), {"DOCKHAND_RATE_LIMIT_REQUESTS": "1000000"}
    )
    yield running
    assert stop_gateway(running) == 0
    assert "Traceback" not in running.log(), running.log()


class Client:
    """One client: its own connection (reopened when the server closes it)."""

    def __init__(self, gateway: Gateway) -> None:
        address = urlsplit(gateway.url)
        assert address.hostname is not None
        assert address.port is not None
        self.host, self.port, self.key = address.hostname, address.port, gateway.key

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                all_headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()


def together(gateway: Gateway, work: Callable[[Client, int], T], clients: int = CLIENTS) -> list[T]:
    """Run `work(client, n)` for n in range(clients), all released at once."""
    barrier = threading.Barrier(clients)

    def run(n: int) -> T:
        client = Client(gateway)
        barrier.wait(timeout=60)
        return work(client, n)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(run, range(clients)))


def test_64_clients_writing_unique_events_all_get_201_and_every_one_is_stored(
    busy: Gateway,
) -> None:
    run = uuid.uuid4().hex
    created: list[str] = []
    for round_ in range(3):

        def write(client: Client, n: int, round_: int = round_) -> tuple[int, Any]:
            body = {"event_type": "conc.unique", "payload": {"run": run, "r": round_, "n": n}}
            return client.send("POST", "/events", body)

        results = together(busy, write)
        assert Counter(status for status, _ in results) == {201: CLIENTS}, results
        created += [body["event_id"] for _, body in results]
    assert len(set(created)) == 3 * CLIENTS

    # Nothing answered 201 is missing later: every id reads back, in parallel too.
    def read(client: Client, n: int) -> list[int]:
        return [client.send("GET", f"/events/{i}")[0] for i in created[n::CLIENTS]]

    assert {s for statuses in together(busy, read) for s in statuses} == {200}
    # ... and the inbox lists every one of them exactly once.
    listed: list[str] = []
    cursor = ""
    client = Client(busy)
    while True:
        status, page = client.send("GET", f"/inbox?limit=200&event_type=conc.unique{cursor}")
        assert status == 200
        listed += [item["event_id"] for item in page["items"] if item["payload"].get("run") == run]
        if not page["has_more"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert sorted(listed) == sorted(created)


def test_idempotency_key_twins_with_different_bodies_store_exactly_one(busy: Gateway) -> None:
    keys = [f"twin-{uuid.uuid4().hex}" for _ in range(CLIENTS // 2)]

    def twin(client: Client, n: int) -> tuple[str, int, Any, dict[str, Any]]:
        key = keys[n // 2]
        body = {"event_type": "conc.twin", "payload": {"key": key, "side": n % 2}}
        status, answer = client.send("POST", "/events", body, {"Idempotency-Key": key})
        return key, status, answer, body

    results = together(busy, twin)
    assert not [r for r in results if r[1] >= 500], results
    by_key: dict[str, list[tuple[int, Any, dict[str, Any]]]] = {}
    for key, status, answer, body in results:
        by_key.setdefault(key, []).append((status, answer, body))
    client = Client(busy)
    for key, pair in by_key.items():
        statuses = sorted(status for status, _, _ in pair)
        assert statuses == [201, 409], (key, pair)
        winner = next((answer, body) for status, answer, body in pair if status == 201)
        loser = next(answer for status, answer, _ in pair if status == 409)
        assert loser["error"]["code"] == "conflict"
        status, stored = client.send("GET", f"/events/{winner[0]['event_id']}")
        assert status == 200
        assert stored["payload"] == winner[1]["payload"]  # the winner's body, whole
        # A repeat of the winner's request now returns the original answer.
        again_status, again = client.send("POST", "/events", winner[1], {"Idempotency-Key": key})
        assert (again_status, again["event_id"], again["duplicate"]) == (
            201,
            winner[0]["event_id"],
            True,
        )


def test_identical_twins_store_one_event(busy: Gateway) -> None:
    run = uuid.uuid4().hex

    def twin(client: Client, n: int) -> tuple[int, Any]:
        body = {"event_type": "conc.dup", "payload": {"run": run, "pair": n // 2}}
        return client.send("POST", "/events", body)

    results = together(busy, twin)
    by_pair: dict[int, list[tuple[int, Any]]] = {}
    for n, (status, body) in enumerate(results):
        by_pair.setdefault(n // 2, []).append((status, body))
    for pair in by_pair.values():
        assert sorted(status for status, _ in pair) == [200, 201], pair
        assert pair[0][1]["event_id"] == pair[1][1]["event_id"]
        assert sorted(body["duplicate"] for _, body in pair) == [False, True]


def test_each_client_reads_its_own_write_at_once(busy: Gateway) -> None:
    def write_then_read(client: Client, n: int) -> list[tuple[int, int]]:
        seen = []
        for step in range(3):
            payload = {"client": n, "step": step, "id": uuid.uuid4().hex}
            status, created = client.send(
                "POST", "/events", {"event_type": "conc.rw", "payload": payload}
            )
            read_status, stored = client.send("GET", f"/events/{created['event_id']}")
            assert stored["payload"] == payload
            assert status == 201, (created, payload)
            seen.append((status, read_status))
        return seen

    results = together(busy, write_then_read)
    assert {pair for client in results for pair in client} == {(201, 200)}


def test_concurrent_acks_of_the_same_events_agree(busy: Gateway) -> None:
    client = Client(busy)
    ids = []
    for n in range(8):
        status, body = client.send(
            "POST",
            "/events",
            {"event_type": "conc.ack", "payload": {"n": n, "r": uuid.uuid4().hex}},
        )
        assert status == 201
        ids.append(body["event_id"])

    def ack(client: Client, n: int) -> tuple[int, Any]:
        return client.send("POST", "/inbox/ack", {"event_ids": ids})

    results = together(busy, ack)
    assert {status for status, _ in results} == {200}
    for _, body in results:
        assert sorted(body["acknowledged"]) == sorted(ids)  # acknowledged is final, idempotent
    for event_id in ids:
        assert client.send("GET", f"/events/{event_id}")[1]["status"] == "delivered"


# ----------------------------------------------------------------- the emulator's transactions
# (in-process, no gateway: tools.local.emulator's TransactWriteItems on moto's backend)


@pytest.fixture
def backend() -> Iterator[Any]:
    import boto3
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def _put(
    pk: str, condition: str | None = "attribute_not_exists(pk)", **extra: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": "t", "Item": {"pk": {"S": pk}, **extra}}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def _keys(backend: Any) -> set[str]:
    return {item.attrs["pk"].value for item in backend.get_table("t").all_items()}


def test_a_failed_condition_writes_nothing(backend: Any) -> None:
    from moto.dynamodb.exceptions import TransactionCanceledException

    from tools.local.emulator import transact_write_items

    transact_write_items(backend, [_put("a")])
    with pytest.raises(TransactionCanceledException) as raised:
        transact_write_items(backend, [_put("b"), _put("a"), _put("c")])
    assert _keys(backend) == {"a"}
    assert "ConditionalCheckFailed" in str(raised.value)


def test_a_write_failing_half_way_is_undone(backend: Any) -> None:
    from tools.local.emulator import transact_write_items

    transact_write_items(backend, [_put("a", None, v={"N": "1"})])
    bad_update = {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "z"}},
            "UpdateExpression": "SET v = v + :one",  # v does not exist on z: fails on apply
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    overwrite = _put("a", None, v={"N": "2"})
    with pytest.raises(Exception):  # noqa: B017, PT011 - moto's own validation error
        transact_write_items(backend, [overwrite, _put("new"), bad_update])
    assert _keys(backend) == {"a"}
    assert backend.get_item("t", {"pk": {"S": "a"}}).attrs["v"].value == "1"


def test_the_emulator_never_copies_whole_tables(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import copy

    from tools.local import emulator

    copied: list[Any] = []
    original = copy.deepcopy
    monkeypatch.setattr(emulator.copy, "deepcopy", lambda v: copied.append(v) or original(v))
    for n in range(50):
        emulator.transact_write_items(backend, [_put(f"k{n}")])
    assert all(type(value).__name__ != "Table" for value in copied)
