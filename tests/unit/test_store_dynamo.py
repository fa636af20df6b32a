"""The storage layer's rules: one failed-condition rule, one expiry rule, plain dicts."""

from __future__ import annotations

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import dynamo, transact
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, PK, SK

pytestmark = pytest.mark.usefixtures("aws")


def _table() -> str:
    return settings().events_table


def test_put_get_round_trip_plain_values() -> None:
    item = {PK: "T#a#X", SK: "X", "n": 3, "f": 1.5, "nested": {"list": [1, "two", None]}}
    dynamo.put(_table(), item)
    assert dynamo.get(_table(), {PK: "T#a#X", SK: "X"}) == {
        PK: "T#a#X",
        SK: "X",
        "n": 3,
        "f": 1.5,
        "nested": {"list": [1, "two", None]},
    }
    assert dynamo.get(_table(), {PK: "T#a#missing", SK: "X"}) is None


def test_a_failed_condition_is_condition_failed_and_writes_nothing() -> None:
    dynamo.put(_table(), {PK: "T#a#C", SK: "C", "v": 1}, condition="attribute_not_exists(pk)")
    with pytest.raises(dynamo.ConditionFailed):
        dynamo.put(_table(), {PK: "T#a#C", SK: "C", "v": 2}, condition="attribute_not_exists(pk)")
    with pytest.raises(dynamo.ConditionFailed) as failed:
        dynamo.update(
            _table(),
            {PK: "T#a#C", SK: "C"},
            "SET v = :v",
            condition="v = :old",
            values={":v": 3, ":old": 99},
            return_old_on_failure=True,
        )
    assert failed.value.item is not None
    assert failed.value.item["v"] == 1
    with pytest.raises(dynamo.ConditionFailed):
        dynamo.delete(_table(), {PK: "T#a#C", SK: "C"}, condition="v = :old", values={":old": 9})
    assert dynamo.get(_table(), {PK: "T#a#C", SK: "C"}) == {PK: "T#a#C", SK: "C", "v": 1}


def test_update_returns_the_asked_attributes() -> None:
    new = dynamo.update(
        _table(), {PK: "T#a#U", SK: "U"}, "ADD hits :one", values={":one": 1}, returns="ALL_NEW"
    )
    assert new == {PK: "T#a#U", SK: "U", "hits": 1}
    assert (
        dynamo.update(_table(), {PK: "T#a#U", SK: "U"}, "ADD hits :one", values={":one": 1}) == {}
    )


def test_expired_items_are_absent_on_every_read() -> None:
    past = int(clock.now()) - 10
    future = int(clock.now()) + 3600
    for n, expires in ((1, past), (2, future)):
        dynamo.put(
            _table(),
            {PK: f"T#a#E{n}", SK: "E", GSI1_PK: "T#a#IDX", GSI1_SK: f"{n}", "expires_at": expires},
        )
    assert dynamo.get(_table(), {PK: "T#a#E1", SK: "E"}) is None
    assert dynamo.get(_table(), {PK: "T#a#E2", SK: "E"}) is not None
    page = dynamo.query_partition(_table(), "a", "T#a#IDX", index=GSI1)
    assert [item[PK] for item in page.items] == ["T#a#E2"]
    assert [i[PK] for i in dynamo.batch_get(_table(), [{PK: "T#a#E1", SK: "E"}])] == []


def test_query_pages_with_a_plain_last_key_and_query_all_reads_every_page() -> None:
    for n in range(5):
        dynamo.put(_table(), {PK: f"T#a#Q{n}", SK: "Q", GSI1_PK: "T#a#PAGE", GSI1_SK: f"{n:02d}"})
    table, pk = _table(), "T#a#PAGE"
    first = dynamo.query_partition(table, "a", pk, index=GSI1, limit=2)
    assert [i[GSI1_SK] for i in first.items] == ["00", "01"]
    assert first.last_key is not None
    assert first.last_key[GSI1_SK] == "01"
    second = dynamo.query_partition(table, "a", pk, index=GSI1, limit=2, start=first.last_key)
    assert [i[GSI1_SK] for i in second.items] == ["02", "03"]
    newest = dynamo.query_partition(table, "a", pk, index=GSI1, limit=1, forward=False)
    assert [i[GSI1_SK] for i in newest.items] == ["04"]
    every = dynamo.query_partition_all(table, "a", pk, index=GSI1, limit=2)
    assert [i[GSI1_SK] for i in every] == ["00", "01", "02", "03", "04"]


def test_transaction_ops_share_the_failed_condition_rule() -> None:
    dynamo.put(_table(), {PK: "T#a#T", SK: "T", "v": 1})
    reasons = transact.run(
        [
            dynamo.put_op(_table(), {PK: "T#a#T2", SK: "T"}),
            dynamo.update_op(
                _table(),
                {PK: "T#a#T", SK: "T"},
                "SET v = :v",
                condition="v = :old",
                values={":v": 2, ":old": 5},
                return_old_on_failure=True,
            ),
        ]
    )
    assert reasons is not None
    assert [transact.failed_condition(r) for r in reasons] == [False, True]
    assert dynamo.get(_table(), {PK: "T#a#T2", SK: "T"}) is None  # nothing half-applied
    assert transact.run([dynamo.delete_op(_table(), {PK: "T#a#T", SK: "T"})]) is None
    assert dynamo.get(_table(), {PK: "T#a#T", SK: "T"}) is None


def test_batch_delete_removes_more_than_one_request_worth() -> None:
    keys = [{PK: f"T#a#B{n}", SK: "B"} for n in range(30)]
    for key in keys:
        dynamo.put(_table(), key)
    dynamo.batch_delete(_table(), keys)
    assert dynamo.batch_get(_table(), keys) == []
