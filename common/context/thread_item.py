"""The thread item: one per thread, kept current by every note and snapshot write.

It holds what `GET /threads` lists (goal, persona, counts, newest snapshot, last
activity) and the `deleting_at` mark that makes a thread's data invisible while
`DELETE /threads/{id}` removes it.  Key layout: the data layout of docs/conventions.md
(attribute and index names: common/store/tables.py).
"""

from __future__ import annotations

from typing import Any

from common.runtime import clock
from common.runtime.config import settings
from common.runtime.errors import Conflict, ServiceUnavailable
from common.store import counters, dynamo, transact
from common.store.tables import GSI2_PK, GSI2_SK, PK, SK

THREAD_SK = "TH"
THREAD_DELETING = "This thread is being deleted; try again when the deletion has finished."
NOT_DELETING = "attribute_not_exists(#deleting)"
EXISTS_NOT_DELETING = "attribute_exists(#pk) AND attribute_not_exists(#deleting)"


def thread_pk(tenant: str, thread_id: str) -> str:
    return f"T#{tenant}#TH#{thread_id}"


def threads_index_pk(tenant: str) -> str:
    return f"T#{tenant}#THREADS"


def thread_key(tenant: str, thread_id: str) -> dict[str, str]:
    return {PK: thread_pk(tenant, thread_id), SK: THREAD_SK}


def get_item(pk: str, sk: str) -> dict[str, Any] | None:
    """One context-table item (a note, snapshot meta or thread), read consistently, or None."""
    return dynamo.get(settings().context_table, {PK: pk, SK: sk})


def get_thread(tenant: str, thread_id: str) -> dict[str, Any] | None:
    """The thread item (goal, persona, counts, newest snapshot), or None."""
    return get_item(thread_pk(tenant, thread_id), THREAD_SK)


def thread_deleting(tenant: str, thread_id: str) -> bool:
    """True while DELETE /threads is removing the thread: its data is then invisible."""
    thread = get_thread(tenant, thread_id)
    return thread is not None and "deleting_at" in thread


def touch_op(
    tenant: str,
    thread_id: str,
    moment: float,
    *,
    notes_delta: int = 0,
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A transaction item keeping the thread item current; it fails while deleting.

    Creates the thread on first use; bumps `last_activity` (and its gsi2 sort key) on
    every write; adds `notes_delta` to notes_count; a snapshot sets goal, persona and the
    newest snapshot id/time and adds one to snapshots_count.
    """
    now_iso = clock.iso(moment)
    names = {
        "#tenant": "tenant",
        "#thread": "thread_id",
        "#created": "created_at",
        "#last": "last_activity",
        "#g2pk": GSI2_PK,
        "#g2sk": GSI2_SK,
        "#notes": "notes_count",
        "#snaps": "snapshots_count",
        "#deleting": "deleting_at",
    }
    values: dict[str, Any] = {
        ":tenant": tenant,
        ":thread": thread_id,
        ":now": now_iso,
        ":g2pk": threads_index_pk(tenant),
        ":g2sk": f"{now_iso}#{thread_id}",
        ":notes": notes_delta,
        ":snaps": 1 if snapshot else 0,
    }
    sets = [
        "#tenant = :tenant",
        "#thread = :thread",
        "#created = if_not_exists(#created, :now)",
        "#last = :now",
        "#g2pk = :g2pk",
        "#g2sk = :g2sk",
    ]
    for index, (field, value) in enumerate(sorted((snapshot or {}).items())):
        names[f"#s{index}"] = field
        values[f":s{index}"] = value
        sets.append(f"#s{index} = :s{index}")
    return dynamo.update_op(
        settings().context_table,
        thread_key(tenant, thread_id),
        "SET " + ", ".join(sets) + " ADD #notes :notes, #snaps :snaps",
        condition=NOT_DELETING,
        names=names,
        values=values,
    )


def put_in_thread(
    tenant: str,
    thread_id: str,
    item: dict[str, Any],
    moment: float,
    *,
    counter: str,
    notes_delta: int = 0,
    snapshot: dict[str, Any] | None = None,
) -> None:
    """Store a new note or snapshot item in one transaction with its thread's update
    and the day counter; 409 while the thread is being deleted."""
    reasons = transact.run(
        [
            dynamo.put_op(
                settings().context_table,
                item,
                condition="attribute_not_exists(#pk)",
                names={"#pk": PK},
            ),
            touch_op(tenant, thread_id, moment, notes_delta=notes_delta, snapshot=snapshot),
            counters.update_item(tenant, {counter: 1}, moment),
        ]
    )
    if reasons is None:
        return
    if transact.failed_condition(reasons[1]):  # the item id is fresh: only this one can fail
        raise Conflict(THREAD_DELETING)
    raise ServiceUnavailable(retry_after=1)  # cancelled for no reason we can act on


def update_thread_if(
    tenant: str,
    thread_id: str,
    update_expression: str,
    *,
    condition: str,
    names: dict[str, str],
    values: dict[str, Any] | None = None,
) -> None:
    """UpdateItem on the thread item under a condition; a failed condition means a
    concurrent request already moved the thread on, so there is nothing left to do."""
    try:
        dynamo.update(
            settings().context_table,
            thread_key(tenant, thread_id),
            update_expression,
            condition=condition,
            names=names,
            values=values,
        )
    except dynamo.ConditionFailed:
        return
