"""Small DynamoDB helpers on the low-level client: (de)serialising plain dicts."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict → DynamoDB attribute values (None values are dropped)."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def value(plain: Any) -> dict[str, Any]:
    """One plain value → a DynamoDB attribute value."""
    result: dict[str, Any] = _serializer.serialize(_to_dynamo(plain))
    return result


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → a plain dict with ints and floats."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}
