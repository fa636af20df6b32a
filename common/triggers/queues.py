"""Named queues: a tenant's consumers each with their own copy of every matching event.

The tenant inbox is the queue `inbox` (reserved, always there, never deleted).  A named
queue is a definition item (common.triggers.layout: pk `T#<tenant>#QUEUES`, sk
`Q#<name>`) with a `queue_id` (a ULID) that names its pools, entries and gauge, so a
queue deleted and created again under the same name starts empty.  The stream fills a
queue (common.triggers.fanout); deleting one removes its definition at once (the API
answers 404 from then on) and leaves its entries to a bounded clean-up driven by the
same stream.  At most MAX_QUEUES per tenant: each one costs a write per matching event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictStr, field_validator, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime import clock, ids
from common.runtime.config import settings
from common.runtime.errors import Conflict, NotFound
from common.runtime.models import BodyModel, Count, PageQuery, Time
from common.runtime.slug import Slug, is_slug
from common.store import cursor as cursors
from common.store import dynamo, transact
from common.store.tables import PK, SK
from common.triggers import layout
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs
from common.triggers.inbox import listing
from common.triggers.inbox.place import Place

MAX_QUEUES = 20
INBOX = layout.INBOX
INBOX_DESCRIPTION = "The tenant inbox: every event of the tenant."


class NewQueue(BodyModel):
    name: Slug
    event_types: inputs.EventTypeFilters | None = None
    description: Annotated[StrictStr, Field(max_length=255)] | None = None

    # The same filters as subscriptions: exact types or `prefix.*`.
    _filters = field_validator("event_types")(classmethod(lambda cls, v: inputs.check_filters(v)))


class QueuesQuery(PageQuery):
    """GET /queues: `limit` and `cursor`."""


@with_config(ConfigDict(extra="forbid", title="Queue"))
class QueueView(TypedDict):
    name: str
    event_types: list[str] | None
    description: str | None
    created_at: Annotated[Time | None, Field(description="null for the tenant inbox")]


@with_config(ConfigDict(extra="forbid", title="QueueDetail"))
class QueueDetailView(QueueView):
    pending: Count
    leased: Count
    quarantined: Count
    oldest_pending_age_seconds: Annotated[int | None, Field(ge=0)]


@dataclass(frozen=True)
class Queue:
    """A named queue's definition."""

    tenant: str
    name: str
    queue_id: str
    event_types: list[str] | None
    description: str | None
    created_at: str

    @property
    def place(self) -> Place:
        return Place(self.tenant, self.name, self.queue_id)

    def view(self) -> QueueView:
        return {
            "name": self.name,
            "event_types": self.event_types,
            "description": self.description,
            "created_at": self.created_at,
        }

    def wants(self, event_type: str, received_at: str) -> bool:
        """Events created after the queue, of a type it matches."""
        return self.created_at <= received_at and subs.matches(self.event_types, event_type)


def _inbox_view() -> QueueView:
    return {
        "name": INBOX,
        "event_types": None,
        "description": INBOX_DESCRIPTION,
        "created_at": None,
    }


def _queue_key(tenant: str, name: str) -> dict[str, str]:
    return {PK: layout.queues_pk(tenant), SK: layout.QUEUE_SK_PREFIX + name}


def _count_key(tenant: str) -> dict[str, str]:
    return {PK: layout.queues_pk(tenant), SK: layout.QUEUE_COUNT_SK}


def _of_item(item: Mapping[str, Any]) -> Queue:
    raw = item.get("event_types_json")
    return Queue(
        tenant=str(item["tenant"]),
        name=str(item["name"]),
        queue_id=str(item["queue_id"]),
        event_types=None if raw is None else list(json.loads(str(raw))),
        description=item.get("description"),
        created_at=str(item["created_at"]),
    )


def create(tenant: str, new: NewQueue) -> QueueView:
    """One transaction: the definition (a name in use → 409) and the tenant's count."""
    if new.name == INBOX:
        raise Conflict("The queue name `inbox` is reserved: it is the tenant inbox.")
    now = clock.now()
    queue = Queue(tenant, new.name, ids.new_id(), new.event_types, new.description, clock.iso(now))
    item = {
        **_queue_key(tenant, new.name),
        "tenant": tenant,
        "name": queue.name,
        "queue_id": queue.queue_id,
        "event_types_json": None if new.event_types is None else json.dumps(new.event_types),
        "description": queue.description,
        "created_at": queue.created_at,
    }
    table = settings().events_table
    reasons = transact.run_named(
        {
            "queue": dynamo.put_op(
                table, item, condition="attribute_not_exists(#pk)", names={"#pk": PK}
            ),
            "count": dynamo.update_op(
                table,
                _count_key(tenant),
                "ADD #n :one",
                condition="attribute_not_exists(#n) OR #n < :max",
                names={"#n": "queues"},
                values={":one": 1, ":max": MAX_QUEUES},
            ),
        }
    )
    if reasons is None:
        return queue.view()
    if transact.failed_condition(reasons["queue"]):
        raise Conflict(f"A queue named {new.name!r} exists.")
    if transact.failed_condition(reasons["count"]):
        raise Conflict(f"A tenant may have at most {MAX_QUEUES} named queues.")
    raise Conflict("The queues changed meanwhile; try again.")  # pragma: no cover


def of_tenant(tenant: str) -> list[Queue]:
    """Every named queue of the tenant, by name: one Query (at most MAX_QUEUES items)."""
    page = dynamo.query_partition(
        settings().events_table,
        tenant,
        layout.queues_pk(tenant),
        sort=dynamo.SortKey.begins_with(layout.QUEUE_SK_PREFIX),
        consistent=True,  # a queue answered 201 gets the next event
    )
    return [_of_item(item) for item in page.items]


def find(tenant: str, name: str) -> Queue:
    if name == INBOX or not is_slug(name):
        raise NotFound("No such queue.")
    item = dynamo.get(settings().events_table, _queue_key(tenant, name))
    if item is None:
        raise NotFound("No such queue.")
    return _of_item(item)


def place_of(tenant: str, name: str) -> Place:
    """Where the named queue's state lives; the inbox needs no read.  Unknown → 404."""
    return Place(tenant) if name == INBOX else find(tenant, name).place


def list_page(tenant: str, limit: int, cursor: str | None) -> tuple[list[QueueView], str | None]:
    """The inbox first, then the named queues by name."""
    ordered: list[tuple[str, QueueView]] = [("", _inbox_view())]
    ordered += [(queue.name, queue.view()) for queue in of_tenant(tenant)]
    after = str(cursors.decode(cursor, tenant, {"queues": True})["after"]) if cursor else None
    rest = [pair for pair in ordered if after is None or pair[0] > after]
    page = rest[:limit]
    more = len(rest) > limit
    next_cursor = cursors.encode(tenant, {"queues": True}, {"after": page[-1][0]}) if more else None
    return [view for _, view in page], next_cursor


def detail(tenant: str, name: str) -> QueueDetailView:
    """The queue with its figures: the pending gauge, and bounded Queries of the leased
    and quarantined parts of its indexes (never the backlog: docs/triggers.md)."""
    if name == INBOX:
        view, place = _inbox_view(), Place(tenant)
    else:
        queue = find(tenant, name)
        view, place = queue.view(), queue.place
    pending, oldest = listing.summary(place)
    age = None
    if oldest is not None:
        age = max(0, int(clock.now() - clock.parse_iso(oldest).timestamp()))
    return {
        **view,
        "pending": pending,
        "leased": listing.leased_count(place),
        "quarantined": listing.quarantined_count(place),
        "oldest_pending_age_seconds": age,
    }


def delete(tenant: str, name: str) -> None:
    """Gone at once for the API; its entries follow (common.triggers.fanout.clean_up)."""
    if name == INBOX:
        raise Conflict("The tenant inbox cannot be deleted.")
    queue = find(tenant, name)
    table = settings().events_table
    reasons = transact.run_named(
        {
            "queue": dynamo.delete_op(
                table,
                _queue_key(tenant, name),
                condition="#qid = :qid",
                names={"#qid": "queue_id"},
                values={":qid": queue.queue_id},
            ),
            "count": dynamo.update_op(
                table,
                _count_key(tenant),
                "ADD #n :minus",
                names={"#n": "queues"},
                values={":minus": -1},
            ),
            "clean_up": dynamo.put_op(
                table,
                {
                    PK: layout.cleanup_pk(tenant, queue.queue_id),
                    SK: layout.CLEANUP_SK,
                    "tenant": tenant,
                    "queue_id": queue.queue_id,
                    "round": 0,
                },
            ),
        }
    )
    if reasons is not None:
        raise NotFound("No such queue.")  # deleted meanwhile by another request
