"""`dynamo.query_partition`: the one way to Query, one partition of a table or index,
named by its key value and its tenant; the key attribute names come from the layout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from common.runtime import clock
from common.runtime.config import settings
from common.store import aws, dynamo, tables
from common.store.tables import GSI1, GSI1_PK, GSI1_SK, GSI3, GSI3_SK, PK, SK
from tools.local.infra_model import table_specs

pytestmark = pytest.mark.usefixtures("aws")

Sort = dynamo.SortKey


@pytest.fixture
def requests() -> Iterator[list[dict[str, Any]]]:
    """The parameters of every Query the container's client sends."""
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client = aws.dynamodb()
    client.meta.events.register("provide-client-params.dynamodb.Query", keep)
    yield sent
    client.meta.events.unregister("provide-client-params.dynamodb.Query", keep)


def _table() -> str:
    return settings().events_table


def _fill(pk: str = "T#acme#P", count: int = 5, **extra: Any) -> None:
    for n in range(count):
        dynamo.put(_table(), {PK: pk, SK: f"{n:02d}", "n": n, **extra})


def _sks(items: Any) -> list[str]:
    return [str(item[SK]) for item in items]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["00", "01", "02", "03", "04"]),
        (Sort.begins_with("0"), ["00", "01", "02", "03", "04"]),
        (Sort.begins_with("03"), ["03"]),
        (Sort.between("01", "03"), ["01", "02", "03"]),
        (Sort.below("02"), ["00", "01"]),
        (Sort.at_most("02"), ["00", "01", "02"]),
        (Sort.above("02"), ["03", "04"]),
        (Sort.at_least("02"), ["02", "03", "04"]),
    ],
)
def test_every_sort_key_condition(sort: dynamo.SortKey | None, expected: list[str]) -> None:
    _fill()
    _fill("T#acme#OTHER", 2)  # another partition of the same tenant stays out

    page = dynamo.query_partition(_table(), "acme", "T#acme#P", sort=sort)

    assert _sks(page.items) == expected
    assert page.last_key is None


def test_limit_start_and_forward_page_through_the_partition(
    requests: list[dict[str, Any]],
) -> None:
    _fill()
    first = dynamo.query_partition(_table(), "acme", "T#acme#P", limit=2, forward=False)
    assert _sks(first.items) == ["04", "03"]
    assert first.last_key == {PK: "T#acme#P", SK: "03"}
    second = dynamo.query_partition(
        _table(), "acme", "T#acme#P", limit=2, forward=False, start=first.last_key
    )
    assert _sks(second.items) == ["02", "01"]
    assert [(r["Limit"], r["ScanIndexForward"]) for r in requests] == [(2, False), (2, False)]
    assert requests[1]["ExclusiveStartKey"] == {PK: {"S": "T#acme#P"}, SK: {"S": "03"}}


def test_an_index_brings_its_own_key_names(requests: list[dict[str, Any]]) -> None:
    for n in range(3):
        dynamo.put(
            _table(),
            {PK: f"T#acme#E{n}", SK: "E", GSI1_PK: "T#acme#S0", GSI1_SK: f"b{n}", GSI3_SK: f"{n}"},
        )
    by_pool = dynamo.query_partition(
        _table(), "acme", "T#acme#S0", index=GSI1, sort=Sort.above("b0")
    )
    # gsi3 shares gsi1's partition key and sorts by gsi3sk: the layout says so, not the caller.
    by_time = dynamo.query_partition(
        _table(), "acme", "T#acme#S0", index=GSI3, sort=Sort.at_most("1")
    )

    assert [i[GSI1_SK] for i in by_pool.items] == ["b1", "b2"]
    assert [i[GSI3_SK] for i in by_time.items] == ["0", "1"]
    assert requests[0]["IndexName"] == GSI1
    assert requests[0]["ExpressionAttributeNames"] == {"#pk": GSI1_PK, "#sk": GSI1_SK}
    assert requests[1]["ExpressionAttributeNames"] == {"#pk": GSI1_PK, "#sk": GSI3_SK}
    assert requests[1]["KeyConditionExpression"] == "#pk = :pk AND #sk <= :sk"


def test_consistent_read_only_when_asked(requests: list[dict[str, Any]]) -> None:
    _fill(count=1)
    dynamo.query_partition(_table(), "acme", "T#acme#P")
    dynamo.query_partition(_table(), "acme", "T#acme#P", consistent=True)

    assert "ConsistentRead" not in requests[0]
    assert requests[1]["ConsistentRead"] is True


def test_projection_returns_only_the_named_attributes(requests: list[dict[str, Any]]) -> None:
    _fill(count=2, secret="s")

    page = dynamo.query_partition(_table(), "acme", "T#acme#P", projection=[SK, "n"])

    assert page.items == [{SK: "00", "n": 0}, {SK: "01", "n": 1}]
    assert requests[0]["ProjectionExpression"] == "#p0, #p1"


def test_a_filter_applies_after_the_limit_and_keeps_its_own_placeholders() -> None:
    _fill()
    odd = dynamo.Filter("#n IN (:one, :three)", {"#n": "n"}, {":one": 1, ":three": 3})

    short = dynamo.query_partition(_table(), "acme", "T#acme#P", limit=2, where=odd)
    every = list(dynamo.query_partition_all(_table(), "acme", "T#acme#P", limit=2, where=odd))

    assert _sks(short.items) == ["01"]  # two read, one kept: a short page with a last key
    assert short.last_key is not None
    assert _sks(every) == ["01", "03"]


@pytest.mark.parametrize(
    "clash",
    [
        dynamo.Filter("#pk = :x", {"#pk": "n"}, {":x": 1}),
        dynamo.Filter("#n = :sk", {"#n": "n"}, {":sk": 1}),
    ],
)
def test_a_filter_may_not_reuse_the_key_placeholders(clash: dynamo.Filter) -> None:
    with pytest.raises(ValueError, match="placeholders"):
        dynamo.query_partition(_table(), "acme", "T#acme#P", where=clash)


def test_query_partition_all_reads_every_page_one_query_each(
    requests: list[dict[str, Any]],
) -> None:
    _fill()

    every = list(
        dynamo.query_partition_all(_table(), "acme", "T#acme#P", limit=3, sort=Sort.above("00"))
    )

    assert _sks(every) == ["01", "02", "03", "04"]
    assert [r["Limit"] for r in requests] == [3, 3]  # 3 + 1 items, the last page ends it
    assert all(r["KeyConditionExpression"] == "#pk = :pk AND #sk > :sk" for r in requests)


def test_expired_items_are_left_out() -> None:
    dynamo.put(_table(), {PK: "T#acme#X", SK: "1", "expires_at": int(clock.now()) - 1})
    dynamo.put(_table(), {PK: "T#acme#X", SK: "2", "expires_at": int(clock.now()) + 60})

    assert _sks(dynamo.query_partition(_table(), "acme", "T#acme#X").items) == ["2"]


@pytest.mark.parametrize(
    ("tenant", "pk"),
    [
        ("acme", "T#globex#P"),  # another tenant's partition
        ("acme", "T#acme2#P"),  # a tenant whose name starts with ours
        ("acme", "DUE#0"),  # a cross-tenant partition read as if it were a tenant's
        ("", "T##P"),
        (dynamo.CROSS_TENANT, "T#acme#P"),  # a tenant's partition read as nobody's
    ],
)
def test_the_partition_must_belong_to_the_tenant_named(
    tenant: str | dynamo.Scope, pk: str, requests: list[dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match="partition"):
        dynamo.query_partition(_table(), tenant, pk)
    with pytest.raises(ValueError, match="partition"):
        next(dynamo.query_partition_all(_table(), tenant, pk))
    assert requests == []  # refused before any request


def test_tenant_partitions_and_cross_tenant_ones_are_read() -> None:
    dynamo.put(_table(), {PK: "T#acme", SK: "1"})
    dynamo.put(_table(), {PK: "DUE#0", SK: "1"})

    assert len(dynamo.query_partition(_table(), "acme", "T#acme").items) == 1
    assert len(dynamo.query_partition(_table(), dynamo.CROSS_TENANT, "DUE#0").items) == 1


def test_index_keys_match_the_terraform_tables() -> None:
    for table, spec in table_specs().items():
        assert tables.INDEX_KEYS[None] == (spec["hash_key"], spec["range_key"]), table
        for gsi in spec.get("global_secondary_index", []):
            assert tables.INDEX_KEYS[gsi["name"]] == (gsi["hash_key"], gsi["range_key"]), table
