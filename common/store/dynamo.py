"""The one way domain code reads and writes DynamoDB items.

Every request goes through the container's low-level client (`store.aws`), whose
botocore retry mode is the one retry rule for single requests; transactions add
their conflict retry in `store.transact`.  Two rules live here so that no domain
spells them again:

- a failed condition is `ConditionFailed` (single writes) or a reason for which
  `transact.failed_condition` is true (transactions); nothing else inspects
  botocore error codes;
- an item whose TTL (`expires_at`, epoch seconds) has passed is absent on every
  read: DynamoDB deletes expired items lazily, up to days later.

Items go in and come out as plain dicts (the codec in `store.ddb`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.runtime import clock
from common.runtime.errors import ServiceUnavailable
from common.store import aws, ddb
from common.store.tables import INDEX_KEYS, TTL_ATTRIBUTE

_CONDITION_FAILED = "ConditionalCheckFailedException"


class ConditionFailed(Exception):
    """The write's condition did not hold; nothing was written.

    `item` is the item as it stood, when the request asked for it (ALL_OLD)."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__("condition failed")
        self.item = item


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None  # the plain-dict LastEvaluatedKey; None on the last page


def expired(item: Mapping[str, Any], now: float | None = None) -> bool:
    expires_at = item.get(TTL_ATTRIBUTE)
    return isinstance(expires_at, int) and expires_at < (clock.now() if now is None else now)


def live(raw: Mapping[str, Any] | None, now: float | None = None) -> dict[str, Any] | None:
    """A raw DynamoDB item as a plain dict, or None when absent or expired."""
    if not raw:
        return None
    item = ddb.deserialize(raw)
    return None if expired(item, now) else item


def expression(names: Mapping[str, str] | None, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """ExpressionAttributeNames/Values request arguments from plain mappings."""
    request: dict[str, Any] = {}
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    if values:
        request["ExpressionAttributeValues"] = {k: ddb.value(v) for k, v in values.items()}
    return request


def get(
    table: str,
    key: Mapping[str, Any],
    *,
    consistent: bool = True,
    projection: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """One item by key, or None (absent or expired)."""
    request: dict[str, Any] = {
        "TableName": table,
        "Key": ddb.serialize(key),
        "ConsistentRead": consistent,
    }
    if projection:
        placeholders = {f"#p{i}": name for i, name in enumerate(projection)}
        request["ProjectionExpression"] = ", ".join(placeholders)
        request["ExpressionAttributeNames"] = placeholders
    return live(aws.dynamodb().get_item(**request).get("Item"))


def put(
    table: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Put an item; with a condition, raise ConditionFailed when it does not hold."""
    request = {"TableName": table, "Item": ddb.serialize(item)}
    _write(aws.dynamodb().put_item, _conditioned(request, condition, names, values, False))


def update(
    table: str,
    key: Mapping[str, Any],
    update_expression: str,
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    returns: str = "NONE",
    return_old_on_failure: bool = False,
) -> dict[str, Any]:
    """Update an item; returns the attributes `returns` asks for (plain), else {}.

    With `return_old_on_failure`, a ConditionFailed carries the item as it stood."""
    request = {
        "TableName": table,
        "Key": ddb.serialize(key),
        "UpdateExpression": update_expression,
        "ReturnValues": returns,
    }
    conditioned = _conditioned(request, condition, names, values, return_old_on_failure)
    result = _write(aws.dynamodb().update_item, conditioned)
    return ddb.deserialize(result.get("Attributes") or {})


def delete(
    table: str,
    key: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> None:
    request = {"TableName": table, "Key": ddb.serialize(key)}
    _write(aws.dynamodb().delete_item, _conditioned(request, condition, names, values, False))


def _write(call: Any, request: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return dict(call(**request))
    except ClientError as exc:
        if aws.aws_error_code(exc) != _CONDITION_FAILED:
            raise
        raise ConditionFailed(live(exc.response.get("Item"))) from None


class Scope(enum.Enum):
    """The tenant argument of a partition that belongs to no tenant."""

    CROSS_TENANT = "cross-tenant"


# The sweepers' due-time indexes and the daily counters: read for every tenant at once.
CROSS_TENANT = Scope.CROSS_TENANT


@dataclass(frozen=True)
class SortKey:
    """A condition on the sort key of the partition's table or index (build it with
    the class methods); values are compared as DynamoDB compares them."""

    condition: str  # over the placeholders #sk, :sk and :sk2
    values: tuple[Any, ...]

    @classmethod
    def begins_with(cls, prefix: Any) -> SortKey:
        return cls("begins_with(#sk, :sk)", (prefix,))

    @classmethod
    def between(cls, low: Any, high: Any) -> SortKey:
        """Both ends included."""
        return cls("#sk BETWEEN :sk AND :sk2", (low, high))

    @classmethod
    def below(cls, bound: Any) -> SortKey:
        return cls("#sk < :sk", (bound,))

    @classmethod
    def at_most(cls, bound: Any) -> SortKey:
        return cls("#sk <= :sk", (bound,))

    @classmethod
    def above(cls, bound: Any) -> SortKey:
        return cls("#sk > :sk", (bound,))

    @classmethod
    def at_least(cls, bound: Any) -> SortKey:
        return cls("#sk >= :sk", (bound,))


@dataclass(frozen=True)
class Filter:
    """A FilterExpression with its own placeholders (#pk, #sk, :pk, :sk, :sk2 are taken).
    It applies after `limit`: a page may come back short, even empty, with a last key."""

    expression: str
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


_RESERVED = {"#pk", "#sk", ":pk", ":sk", ":sk2"}


def query_partition(
    table: str,
    tenant: str | Scope,
    pk: str,
    *,
    index: str | None = None,
    sort: SortKey | None = None,
    limit: int | None = None,
    start: Mapping[str, Any] | None = None,
    forward: bool = True,
    consistent: bool = False,
    projection: Sequence[str] = (),
    where: Filter | None = None,
) -> Page:
    """One Query request on one partition: a page of live items in sort-key order
    (`forward=False`: descending) and the plain LastEvaluatedKey.

    `pk` is the partition key's value, built by the domain's layout from `tenant`: a
    tenant's partition is refused for any other tenant, and a partition keyed by no
    tenant (`CROSS_TENANT`) must not look like a tenant's (`T#...`)."""
    request = _query_request(
        table, tenant, pk, index=index, sort=sort, projection=projection, where=where
    )
    request["ScanIndexForward"] = forward
    if limit is not None:
        request["Limit"] = limit
    if start:
        request["ExclusiveStartKey"] = ddb.serialize(start)
    if consistent:
        request["ConsistentRead"] = True
    result = aws.dynamodb().query(**request)
    now = clock.now()
    items = [item for raw in result.get("Items", []) if (item := live(raw, now)) is not None]
    last = result.get("LastEvaluatedKey")
    return Page(items, ddb.deserialize(last) if last else None)


def query_partition_all(
    table: str,
    tenant: str | Scope,
    pk: str,
    *,
    index: str | None = None,
    sort: SortKey | None = None,
    limit: int | None = None,
    forward: bool = True,
    consistent: bool = False,
    projection: Sequence[str] = (),
    where: Filter | None = None,
) -> Iterator[dict[str, Any]]:
    """Every live item of the partition (under `sort`), page after page of `limit`
    items at most: background work only, it is unbounded."""
    start: Mapping[str, Any] | None = None
    while True:
        page = query_partition(
            table,
            tenant,
            pk,
            index=index,
            sort=sort,
            limit=limit,
            start=start,
            forward=forward,
            consistent=consistent,
            projection=projection,
            where=where,
        )
        yield from page.items
        if page.last_key is None:
            return
        start = page.last_key


def _query_request(
    table: str,
    tenant: str | Scope,
    pk: str,
    *,
    index: str | None,
    sort: SortKey | None,
    projection: Sequence[str],
    where: Filter | None,
) -> dict[str, Any]:
    _check_tenant(tenant, pk)
    pk_name, sk_name = INDEX_KEYS[index]
    names: dict[str, str] = {"#pk": pk_name}
    values: dict[str, Any] = {":pk": pk}
    condition = "#pk = :pk"
    if sort is not None:
        names["#sk"] = sk_name
        values.update(zip((":sk", ":sk2"), sort.values, strict=False))
        condition += f" AND {sort.condition}"
    request: dict[str, Any] = {"TableName": table, "KeyConditionExpression": condition}
    if index:
        request["IndexName"] = index
    if projection:
        placeholders = {f"#p{i}": name for i, name in enumerate(projection)}
        request["ProjectionExpression"] = ", ".join(placeholders)
        names.update(placeholders)
    if where is not None:
        if _RESERVED & {*where.names, *where.values}:
            raise ValueError(f"a filter may not use the placeholders {sorted(_RESERVED)}")
        request["FilterExpression"] = where.expression
        names.update(where.names)
        values.update(where.values)
    return {**request, **expression(names, values)}


def _check_tenant(tenant: str | Scope, pk: str) -> None:
    if tenant is CROSS_TENANT:
        if pk.startswith("T#"):
            raise ValueError(f"{pk!r} is a tenant's partition: name its tenant")
    elif not tenant or (pk != f"T#{tenant}" and not pk.startswith(f"T#{tenant}#")):
        raise ValueError(f"{pk!r} is not a partition of tenant {tenant!r}")


# Unprocessed items mean throttling: a few rounds, then 503 rather than spin inside Lambda.
BATCH_ATTEMPTS = 5


def batch_get(
    table: str, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True
) -> list[dict[str, Any]]:
    """Live items for up to any number of keys (100 a request, unprocessed keys retried)."""
    found: list[dict[str, Any]] = []
    now = clock.now()
    for first in range(0, len(keys), 100):
        chunk = [ddb.serialize(k) for k in keys[first : first + 100]]
        request: dict[str, Any] = {table: {"Keys": chunk, "ConsistentRead": consistent}}
        for _ in range(BATCH_ATTEMPTS):
            result = aws.dynamodb().batch_get_item(RequestItems=request)
            for raw in result.get("Responses", {}).get(table, []):
                if (item := live(raw, now)) is not None:
                    found.append(item)
            request = result.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise ServiceUnavailable(retry_after=1)
    return found


def batch_delete(table: str, keys: Sequence[Mapping[str, Any]]) -> None:
    """Delete items by key, 25 a request, unprocessed ones retried."""
    for first in range(0, len(keys), 25):
        pending: dict[str, Any] = {
            table: [{"DeleteRequest": {"Key": ddb.serialize(k)}} for k in keys[first : first + 25]]
        }
        for _ in range(BATCH_ATTEMPTS):
            result = aws.dynamodb().batch_write_item(RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
        if pending:
            raise ServiceUnavailable(retry_after=1)


# ------------------------------------------------ transaction items (see store.transact)


def put_op(
    table: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    return_old_on_failure: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, "Item": ddb.serialize(item)}
    return {"Put": _conditioned(body, condition, names, values, return_old_on_failure)}


def update_op(
    table: str,
    key: Mapping[str, Any],
    update_expression: str,
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    return_old_on_failure: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TableName": table,
        "Key": ddb.serialize(key),
        "UpdateExpression": update_expression,
    }
    return {"Update": _conditioned(body, condition, names, values, return_old_on_failure)}


def delete_op(
    table: str,
    key: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, "Key": ddb.serialize(key)}
    return {"Delete": _conditioned(body, condition, names, values, False)}


def check_op(
    table: str,
    key: Mapping[str, Any],
    condition: str,
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, "Key": ddb.serialize(key)}
    return {"ConditionCheck": _conditioned(body, condition, names, values, False)}


def _conditioned(  # single writes and transaction items share it
    body: dict[str, Any],
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    return_old: bool,
) -> dict[str, Any]:
    body.update(expression(names, values))
    if condition:
        body["ConditionExpression"] = condition
    if return_old:
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return body
