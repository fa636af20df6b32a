"""Small DynamoDB helpers on the low-level client: (de)serialising plain dicts.

A local codec instead of `boto3.dynamodb.types`: importing that module imports
all of boto3 (and s3transfer), about 100 ms of every cold start, for two small
functions.  The rules are boto3's: numbers go through the same 38-digit decimal
context (so an out-of-range number fails here, not at DynamoDB), floats are
refused by the codec (callers' floats become `Decimal(str(f))` first), `bool`
is BOOL and not N, `None` is NULL, tuples are lists.  Reading back, numbers
become ints when integral and floats otherwise; B values come back as `bytes`
(boto3 wraps them in its `Binary`; dockhand stores no binary attributes).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB numbers: up to 38 significant digits, exponent -130..+125 (boto3's context).
_NUMBER_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)
_BINARY = (bytes, bytearray)


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


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _number(value: int | Decimal) -> str:
    text = str(_NUMBER_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN", "-Infinity", "sNaN"):
        raise TypeError("Infinity and NaN not supported")
    return text


def _encode(value: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per DynamoDB type
    """One Python value → one attribute value (boto3 TypeSerializer's rules)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, _BINARY):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _encode_set(value)
    if isinstance(value, Mapping):
        return {"M": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_encode(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def _encode_set(values: Set[Any]) -> dict[str, Any]:
    if all(_is_number(v) for v in values):
        return {"NS": [_number(v) for v in values]}
    if all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if all(isinstance(v, _BINARY) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise TypeError(f"Unsupported set {values!r}: mixed or unsupported member types")


def _decode(attribute: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one return per DynamoDB type
    """One attribute value → a Python value (numbers as Decimal, like boto3)."""
    if len(attribute) != 1:
        raise TypeError(f"an attribute value has exactly one type key, got {list(attribute)}")
    (kind, raw), *_ = attribute.items()
    if kind in ("S", "BOOL", "B"):
        return raw
    if kind == "NULL":
        return None
    if kind == "N":
        return _NUMBER_CONTEXT.create_decimal(raw)
    if kind == "M":
        return {k: _decode(v) for k, v in raw.items()}
    if kind == "L":
        return [_decode(v) for v in raw]
    if kind == "NS":
        return {_NUMBER_CONTEXT.create_decimal(v) for v in raw}
    if kind in ("SS", "BS"):
        return set(raw)
    raise TypeError(f"Dynamodb type {kind} is not supported")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict → DynamoDB attribute values (None values are dropped)."""
    return {k: _encode(_to_dynamo(v)) for k, v in item.items() if v is not None}


def value(plain: Any) -> dict[str, Any]:
    """One plain value → a DynamoDB attribute value."""
    return _encode(_to_dynamo(plain))


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → a plain dict with ints and floats."""
    return {k: _from_dynamo(_decode(v)) for k, v in item.items()}
