"""common.store.ddb's local codec must match boto3's TypeSerializer/TypeDeserializer
(which it replaced to keep boto3 out of cold starts) on every type dockhand stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from common.store import ddb

PLAIN_ITEM: dict[str, Any] = {
    "pk": "T#acme#E#01J",
    "count": 3,
    "negative": -42,
    "big": 2**62,
    "ratio": 0.125,
    "tiny": 1e-7,
    "exact": Decimal("1.50"),
    "flag": True,
    "off": False,
    "unicode": "naïve ✓",
    "empty": "",
    "nested": {"a": [1, 2.5, {"b": None, "c": "x"}], "d": {}, "e": []},
    "tags": ("x", 1),
    "names": {"a", "b"},
    "numbers": {1, 2, 3},
}


def test_serialize_matches_boto3() -> None:
    boto3_serializer = TypeSerializer()
    expected = {k: boto3_serializer.serialize(ddb._to_dynamo(v)) for k, v in PLAIN_ITEM.items()}
    got = ddb.serialize(PLAIN_ITEM)
    for name in ("names", "numbers"):  # set order is arbitrary on both sides
        (kind, members), *_ = got.pop(name).items()
        (boto3_kind, boto3_members), *_ = expected.pop(name).items()
        assert (kind, sorted(members)) == (boto3_kind, sorted(boto3_members))
    assert got == expected


def test_round_trip_matches_boto3() -> None:
    stored = ddb.serialize(PLAIN_ITEM)
    boto3_deserializer = TypeDeserializer()
    expected = {k: ddb._from_dynamo(boto3_deserializer.deserialize(v)) for k, v in stored.items()}
    assert ddb.deserialize(stored) == expected
    assert ddb.deserialize(stored)["ratio"] == 0.125
    assert ddb.deserialize(stored)["count"] == 3
    assert isinstance(ddb.deserialize(stored)["count"], int)
    assert ddb.deserialize(stored)["nested"] == {
        "a": [1, 2.5, {"b": None, "c": "x"}],
        "d": {},
        "e": [],
    }


def test_none_values_are_dropped_from_items_but_null_inside_values() -> None:
    assert ddb.serialize({"a": None, "b": 1}) == {"b": {"N": "1"}}
    assert ddb.value(None) == {"NULL": True}
    assert ddb.value(True) == {"BOOL": True}  # bool is not a number


@pytest.mark.parametrize(
    "bad",
    [
        object(),
        Decimal("Infinity"),
        Decimal("NaN"),
        Decimal("1" * 39),  # 39 significant digits: more than DynamoDB keeps
        {1, "a"},
        float("inf"),
    ],
)
def test_unsupported_values_fail_like_boto3(bad: Any) -> None:
    with pytest.raises((TypeError, ArithmeticError)) as boto3_error:
        TypeSerializer().serialize(ddb._to_dynamo(bad))
    with pytest.raises((TypeError, ArithmeticError)) as local_error:
        ddb.value(bad)
    assert local_error.type is boto3_error.type
