"""The embedded emulator (moto) made as safe as DynamoDB under concurrent clients.

moto's DynamoDB backend is written for one caller at a time.  Its
TransactWriteItems deep-copies every table the transaction touches, applies the
items one by one and, when a condition fails, puts the copies back in place of the
live tables.  Under the gateway's threads that means:

- a write made by another request between the copy and the restore is lost (it was
  answered 201 and is 404 later);
- two requests can both pass the same condition (one Idempotency-Key, two bodies
  stored);
- a read can see half a transaction;
- and every transaction costs a copy of the whole table: O(items stored), so the
  emulator slows down as a run goes on (seconds per request after a few thousand
  events, which then time out and are retried).

DynamoDB applies each request atomically and isolated.  `make_dynamodb_safe` gives
the emulator the same guarantees whatever the clients do:

1. one lock around every DynamoDB request the emulator serves (reads too, so they
   never see half a transaction);
2. TransactWriteItems as check-then-apply: every condition is evaluated first and
   nothing is written unless all hold; only the items the transaction writes are
   saved beforehand (to undo a write that fails half-way, e.g. an invalid update
   expression), never whole tables.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Any

DYNAMODB_LOCK = threading.RLock()


def make_dynamodb_safe() -> None:
    """Patch moto's DynamoDB (in this process) as described above; idempotent."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_dockhand_safe", False):
        return
    unlocked = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with DYNAMODB_LOCK:
            return unlocked(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoHandler._dockhand_safe = True  # type: ignore[attr-defined]


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


Op = tuple[str, dict[str, Any], dict[str, Any]]  # (type, request, key)
_OP_TYPES = {"ConditionCheck", "Put", "Delete", "Update"}


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, atomic without copying tables (see the module doc)."""
    from moto.dynamodb.exceptions import TransactionCanceledException

    ops = _parse(self, transact_items)
    # 1. Every condition, against the state before the transaction, before any write.
    errors = [_check(self, op) for op in ops]
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    # 2. Apply; undo the applied writes if one fails half-way.
    saved = [
        (request["TableName"], key, copy.deepcopy(self.get_item(request["TableName"], key)))
        for op_type, request, key in ops
        if op_type != "ConditionCheck"
    ]
    try:
        for op in ops:
            _apply(self, *op)
    except Exception:
        _restore(self, saved)
        raise


def _parse(backend: Any, transact_items: list[dict[str, Any]]) -> list[Op]:
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops: list[Op] = []
    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException()
        op_type, request = next(iter(item.items()))
        key = _key_of(backend, op_type, request) if op_type in _OP_TYPES else {}
        marker = (str(request.get("TableName")), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        ops.append((op_type, request, key))
    return ops


def _check(backend: Any, op: Op) -> tuple[Any, Any, Any]:
    """(None, None, None) when the item's condition holds, else its cancellation reason."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import MockValidationException

    op_type, request, key = op
    try:
        if op_type not in _OP_TYPES:
            raise ValueError("Unsupported transaction operation")
        current = backend.get_item(request["TableName"], key)
        condition = request.get("ConditionExpression")
        if condition is None:
            return (None, None, None)
        check = get_filter_expression(
            condition,
            request.get("ExpressionAttributeNames"),
            request.get("ExpressionAttributeValues"),
        )
        if check.expr(current):
            return (None, None, None)
        old = None
        if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
            old = current.to_json()["Attributes"]
        return ("ConditionalCheckFailed", "The conditional request failed", old)
    except MockValidationException:
        raise  # a malformed request is a ValidationException, as in moto and DynamoDB
    except Exception as exc:  # reported per item, as DynamoDB does
        return (type(exc).__name__, str(exc), None)


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(
            op["TableName"],
            op["Item"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            op["TableName"],
            key,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _restore(backend: Any, saved: list[tuple[str, dict[str, Any], Any]]) -> None:
    for table_name, key, before in reversed(saved):
        if before is None:
            with contextlib.suppress(Exception):  # it was never written
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, before.to_json()["Attributes"])
