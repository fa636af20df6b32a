"""Inbox page and lease cost by backlog size: AWS calls and items read per page and
per lease must stay flat whether 100 or 100,000 events are pending, after 99% are
acknowledged, and (leases) with the oldest half of them leased.

The backlog is written straight to the table with BatchWriteItem (the handler
path would take far too long in an emulator): one event is created through
POST /events, one through POST /events + DELETE and one through POST /events +
POST /inbox/lease (an hour's lease); their stored items serve as
templates (the documented layout in docs/conventions.md, exactly as the events
code writes it), and copies get fresh ULIDs."""

from __future__ import annotations

import time
from typing import Any

from bench import world
from bench.awscalls import recording

LOAD_BUDGET_SECONDS = 120.0


def _raw_item(event_id: str) -> dict[str, Any]:
    from common.runtime.config import settings
    from common.store import aws

    table = settings().events_table
    key = {"pk": {"S": f"T#{world.TENANT}#E#{event_id}"}, "sk": {"S": "E"}}
    item: dict[str, Any] = aws.dynamodb().get_item(TableName=table, Key=key)["Item"]
    return item


Templates = tuple[str, dict[str, Any], str, dict[str, Any], str, dict[str, Any]]


def _templates(key: str) -> Templates:
    # The leased template first: while it is the only event, the lease takes it.
    body = {"event_type": "bench.scale", "payload": {"n": -2}}
    leased_id = world.body_of(world.call("POST", "/events", key=key, json_body=body))["event_id"]
    world.call("POST", "/inbox/lease", key=key, json_body={"limit": 1, "lease_seconds": 3600})
    body = {"event_type": "bench.scale", "payload": {"n": 0}}
    pending_id = world.body_of(world.call("POST", "/events", key=key, json_body=body))["event_id"]
    body = {"event_type": "bench.scale", "payload": {"n": -1}}
    done_id = world.body_of(world.call("POST", "/events", key=key, json_body=body))["event_id"]
    world.call("DELETE", f"/events/{done_id}", key=key)
    return (
        pending_id,
        _raw_item(pending_id),
        done_id,
        _raw_item(done_id),
        leased_id,
        _raw_item(leased_id),
    )


def _copy(template: dict[str, Any], old_id: str, new_id: str) -> dict[str, Any]:
    copy: dict[str, Any] = {}
    for name, value in template.items():
        if "S" in value:
            copy[name] = {"S": value["S"].replace(old_id, new_id)}
        else:
            copy[name] = value
    return copy


def _write(items: list[dict[str, Any]]) -> None:
    from common.runtime.config import settings
    from common.store import aws

    client, table = aws.dynamodb(), settings().events_table
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            result = client.batch_write_item(RequestItems={table: requests})
            requests = result.get("UnprocessedItems", {}).get(table, [])


def _page_cost(key: str) -> dict[str, Any]:
    """Calls and items read for the first page and the one after it."""
    pages = []
    cursor: str | None = None
    with recording() as recorder:
        for _ in range(2):
            recorder.reset()
            query = {"limit": "50", **({"cursor": cursor} if cursor else {})}
            response = world.call("GET", "/inbox", key=key, query=query)
            body = world.body_of(response)
            cursor = body.get("next_cursor")
            pages.append(
                {
                    "status": response["statusCode"],
                    "aws_calls": recorder.total_calls,
                    # Shows what is not the page's Query (e.g. a rate-limit lease renewal).
                    "by_operation": dict(sorted(recorder.calls.items())),
                    "scanned_count": sum(r.get("ScannedCount", 0) for _, r in recorder.reads),
                    "count": sum(r.get("Count", 0) for _, r in recorder.reads),
                    "items_returned": len(body.get("items", [])),
                    "handler_ms_with_moto": None,
                }
            )
            if not cursor:
                break
    started = time.perf_counter_ns()
    world.call("GET", "/inbox", key=key, query={"limit": "50"})
    pages[0]["handler_ms_with_moto"] = round((time.perf_counter_ns() - started) / 1e6, 1)
    return {"first_page": pages[0], "next_page": pages[1] if len(pages) > 1 else None}


def _lease_cost(key: str) -> dict[str, Any]:
    """Calls and items read by one POST /inbox/lease of 10 (what a consumer polls)."""
    with recording() as recorder:
        recorder.reset()
        started = time.perf_counter_ns()
        response = world.call("POST", "/inbox/lease", key=key, json_body={"limit": 10})
        elapsed_ms = round((time.perf_counter_ns() - started) / 1e6, 1)
        body = world.body_of(response)
        return {
            "status": response["statusCode"],
            "aws_calls": recorder.total_calls,
            "by_operation": dict(sorted(recorder.calls.items())),
            "scanned_count": sum(r.get("ScannedCount", 0) for _, r in recorder.reads),
            "count": sum(r.get("Count", 0) for _, r in recorder.reads),
            "items_returned": len(body.get("items", [])),
            "handler_ms_with_moto": elapsed_ms,
        }


def measure(sizes: tuple[int, ...]) -> dict[str, Any]:
    from common.runtime import ids

    try:
        with world.aws_world() as key:
            pending_id, pending, done_id, delivered, leased_id, leased = _templates(key)
            event_ids = [pending_id]
            rows = []
            note = None
            load_seconds = 0.0
            for wanted in sizes:
                size = wanted
                missing = size - len(event_ids)
                rate = len(event_ids) / load_seconds if load_seconds > 1 else None
                if rate and load_seconds + missing / rate > LOAD_BUDGET_SECONDS:
                    fits = int(len(event_ids) + (LOAD_BUDGET_SECONDS - load_seconds) * rate)
                    note = f"{size:,} would not load within {LOAD_BUDGET_SECONDS:.0f} s"
                    size = max(len(event_ids), fits // 1000 * 1000)
                    missing = size - len(event_ids)
                started = time.perf_counter()
                new_ids = [ids.new_id() for _ in range(missing)]
                _write([_copy(pending, pending_id, new_id) for new_id in new_ids])
                load_seconds += time.perf_counter() - started
                event_ids.extend(new_ids)
                row: dict[str, Any] = {"pending": len(event_ids), **_page_cost(key)}
                # Acknowledge the oldest 99%: the worst case for filter-and-discard.
                acked = event_ids[: len(event_ids) * 99 // 100]
                _write([_copy(delivered, done_id, event_id) for event_id in acked])
                row["after_ack_99pct"] = {"pending": len(event_ids) - len(acked), **_page_cost(key)}
                # Restore them as pending for the next, larger size.
                _write([_copy(pending, pending_id, event_id) for event_id in acked])
                # Lease the oldest half (the worst case for a lease that would skip held
                # events), then measure a lease and a page; then give them back.
                held = event_ids[: len(event_ids) // 2]
                _write([_copy(leased, leased_id, event_id) for event_id in held])
                row["half_leased"] = {
                    "pending": len(event_ids),
                    "leased": len(held),
                    "lease": _lease_cost(key),
                    **_page_cost(key),
                }
                _write([_copy(pending, pending_id, event_id) for event_id in held])
                rows.append(row)
                if note:
                    break
            return {
                "available": True,
                "load_seconds": round(load_seconds, 1),
                "note": note,
                "sizes": rows,
            }
    except world.NotAvailable as missing_fn:
        return {"available": False, "note": f"not available yet ({missing_fn})"}
