"""Reading a thread's notes beyond one page: the notes newer than a snapshot (rendered into
the thread's newest document) and the MCP `search_notes` text search.

Both are bounded Queries of the notes' indexes, never a scan:
- newer notes: one Query of the thread's notes (gsi1, newest first) from a minute before
  the snapshot on, at most NEWER_NOTES_SHOWN notes plus the frozen ones in that minute;
- search with `thread_id`: one Query of the thread's newest THREAD_SEARCH_BOUND notes
  (gsi1, or gsi2 for a kind);
- search without `thread_id`: one Query of the tenant's SEARCH_THREADS most recently
  active threads (the threads index), then one Query of each one's newest
  NOTES_PER_THREAD notes.  At most 1 + 20 Queries and 20 x 200 = 4,000 notes read.
The answer says what was searched and whether the bound cut the search short.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.context import notes, thread_item, threads
from common.runtime import clock
from common.runtime.config import settings
from common.runtime.models import Count
from common.store import dynamo
from common.store.tables import GSI1, GSI2

NEWER_NOTES_SHOWN = 50
# Notes written while a snapshot is taken may miss its freeze by a few milliseconds: the
# newer-notes Query starts this long before the snapshot and drops the frozen ones.
FREEZE_MARGIN_MS = 60_000
SEARCH_THREADS = 20
NOTES_PER_THREAD = 200
THREAD_SEARCH_BOUND = 1000
SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX = 20, 100
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@with_config(ConfigDict(extra="forbid"))
class Searched(TypedDict):
    threads: Count
    notes: Count
    complete: bool  # False when a bound left older notes unread


@with_config(ConfigDict(extra="forbid"))
class SearchView(TypedDict):
    items: list[notes.NoteView]
    searched: Searched


def _ulid_floor(moment_ms: int) -> str:
    """The smallest ULID of that millisecond: ids sort by creation time."""
    chars = []
    value = max(0, moment_ms)
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(_ULID_ALPHABET[digit])
    return "".join(reversed(chars)) + "0" * 16


def newer_notes(
    tenant: str, thread_id: str, created_at: str, frozen_ids: set[str]
) -> tuple[list[notes.NoteView], bool]:
    """(the notes written after the snapshot, oldest first, at most NEWER_NOTES_SHOWN;
    whether more exist): one Query."""
    moment_ms = int(clock.parse_iso(created_at).timestamp() * 1000)
    floor = _ulid_floor(moment_ms - FREEZE_MARGIN_MS)
    window = sum(1 for note_id in frozen_ids if note_id >= floor)
    page = dynamo.query_partition(
        settings().context_table,
        tenant,
        notes.thread_notes_pk(tenant, thread_id),
        index=GSI1,
        sort=dynamo.SortKey.at_least(floor),
        forward=False,
        limit=min(1000, NEWER_NOTES_SHOWN + window),
    )
    found = [notes.public_note(i) for i in page.items if i["note_id"] not in frozen_ids]
    more = len(found) > NEWER_NOTES_SHOWN or page.last_key is not None
    return found[:NEWER_NOTES_SHOWN][::-1], more


def _matches(note: dict[str, Any], needle: str, kind: str | None) -> bool:
    if kind is not None and note.get("kind") != kind:
        return False
    if needle in str(note.get("text", "")).casefold():
        return True
    return any(needle in str(tag).casefold() for tag in note.get("tags") or [])


def _thread_page(tenant: str, thread_id: str, kind: str | None, bound: int) -> dynamo.Page:
    if kind is not None:
        index, pk = GSI2, notes.thread_kind_pk(tenant, thread_id, kind)
    else:
        index, pk = GSI1, notes.thread_notes_pk(tenant, thread_id)
    return dynamo.query_partition(
        settings().context_table,
        tenant,
        pk,
        index=index,
        forward=False,  # newest first: the bound keeps the newest
        limit=bound,
    )


def search_notes(
    tenant: str, text: str, *, thread_id: str | None, kind: str | None, limit: int
) -> SearchView:
    """At most `limit` notes whose text (or a tag) contains `text`, case-insensitively,
    newest first, of one thread or of the most recently active ones, optionally of one
    kind; the tenant's only (every key starts with it)."""
    needle = text.casefold()
    if thread_id is not None:
        if thread_item.thread_deleting(tenant, thread_id):
            return {"items": [], "searched": {"threads": 0, "notes": 0, "complete": True}}
        thread_ids = [thread_id]
        bound, complete = THREAD_SEARCH_BOUND, True
    else:
        listed, next_cursor = threads.list_threads(tenant, SEARCH_THREADS, None)
        thread_ids = [item["thread_id"] for item in listed]
        bound, complete = NOTES_PER_THREAD, next_cursor is None
    found: list[notes.NoteView] = []
    read = 0
    for searched_id in thread_ids:
        page = _thread_page(tenant, searched_id, kind, bound)
        read += len(page.items)
        complete = complete and page.last_key is None
        found.extend(notes.public_note(i) for i in page.items if _matches(i, needle, kind))
    found.sort(key=lambda note: note["note_id"], reverse=True)  # ULIDs: newest first
    return {
        "items": found[:limit],
        "searched": {"threads": len(thread_ids), "notes": read, "complete": complete},
    }
