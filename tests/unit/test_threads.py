"""GET /threads, DELETE /snapshots/{id} and DELETE /threads/{id}: listing from the thread
items, deletion of every S3 version, the 202-then-finish path, invisibility while
deleting, 409 on writes into a deleting thread, tenant isolation, viewer vs creator."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from common.runtime.config import reset_settings, settings
from common.store import aws
from tests.conftest import ApiClient, Keys

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def note(api: ApiClient, key: str, thread: str, text: str = "n") -> dict[str, Any]:
    result = api.post("/notes", key=key, json_body={"thread_id": thread, "text": text})
    assert result.status == 201, result.text
    return dict(result.json)


def snap(api: ApiClient, key: str, thread: str, goal: str = "g") -> dict[str, Any]:
    body = {"thread": {"id": thread, "goal": goal, "persona": "qa-engineer"}}
    result = api.post("/hydrate", key=key, json_body=body)
    assert result.status == 201, result.text
    return dict(result.json)


def versions_of(snapshot_id: str, tenant: str = "acme") -> int:
    key = f"tenants/{tenant}/snapshots/{snapshot_id}.json.gz"
    page = aws.s3().list_object_versions(Bucket=settings().snapshots_bucket, Prefix=key)
    return len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))


def context_items() -> int:
    table = settings().context_table
    return int(aws.dynamodb().scan(TableName=table, Select="COUNT")["Count"])  # test-only


# --- GET /threads -----------------------------------------------------------------------


def test_threads_are_listed_newest_activity_first_with_counts(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    note(api, keys.creator, "alpha")
    first = snap(api, keys.creator, "beta", goal="Ship beta")
    second = snap(api, keys.creator, "beta", goal="Ship beta 2")
    note(api, keys.creator, "beta")
    aws_calls.clear()
    result = api.get("/threads", key=keys.viewer)
    assert result.status == 200
    body = result.json
    assert [t["thread_id"] for t in body["items"]] == ["beta", "alpha"]
    beta = body["items"][0]
    assert beta["goal"] == "Ship beta 2"
    assert beta["persona"] == "qa-engineer"
    assert (beta["notes_count"], beta["snapshots_count"]) == (1, 2)
    assert beta["newest_snapshot_id"] == second["snapshot_id"] != first["snapshot_id"]
    assert beta["newest_snapshot_at"] == second["created_at"]
    assert body["has_more"] is False
    assert aws_calls["dynamodb.Query"] == 1
    assert aws_calls["dynamodb.Scan"] == 0


def test_threads_paginate_and_cursors_are_bound_to_the_tenant(api: ApiClient, keys: Keys) -> None:
    for name in ("t1", "t2", "t3"):
        note(api, keys.creator, name)
    page1 = api.get("/threads", key=keys.viewer, query={"limit": "2"}).json
    assert page1["has_more"] is True
    page2 = api.get("/threads", key=keys.viewer, query={"cursor": page1["next_cursor"]}).json
    names = [t["thread_id"] for t in page1["items"] + page2["items"]]
    assert sorted(names) == ["t1", "t2", "t3"]
    stolen = api.get("/threads", key=keys.other_viewer, query={"cursor": page1["next_cursor"]})
    assert stolen.error_code == "invalid_cursor"
    assert api.get("/threads", key=keys.other_viewer).json["items"] == []
    assert api.get("/threads", key=keys.viewer, query={"x": "1"}).status == 400


# --- DELETE /snapshots/{id} -------------------------------------------------------------


def test_delete_snapshot_removes_every_version_and_updates_the_thread(
    api: ApiClient, keys: Keys
) -> None:
    older = snap(api, keys.creator, "t1")
    newer = snap(api, keys.creator, "t1")
    sid = newer["snapshot_id"]
    key = f"tenants/acme/snapshots/{sid}.json.gz"
    bucket = settings().snapshots_bucket
    aws.s3().put_object(Bucket=bucket, Key=key, Body=b"another version")
    aws.s3().delete_object(Bucket=bucket, Key=key)  # a delete marker
    aws.s3().put_object(Bucket=bucket, Key=key + ".bak", Body=b"a longer key: not ours")
    assert versions_of(sid) == 4
    assert api.delete(f"/snapshots/{sid}", key=keys.viewer).status == 403
    assert api.delete(f"/snapshots/{sid}", key=keys.other_creator).status == 404
    result = api.delete(f"/snapshots/{sid}", key=keys.creator)
    assert result.status == 204
    assert versions_of(sid) == 1  # only the .bak key, which merely shares the prefix
    assert api.get(f"/snapshots/{sid}", key=keys.viewer).status == 404
    assert api.get(f"/rehydrate/{sid}", key=keys.viewer).status == 404
    thread = api.get("/threads", key=keys.viewer).json["items"][0]
    assert thread["snapshots_count"] == 1
    assert thread["newest_snapshot_id"] == older["snapshot_id"]
    listed = api.get("/snapshots", key=keys.viewer, query={"thread_id": "t1"}).json["items"]
    assert [s["snapshot_id"] for s in listed] == [older["snapshot_id"]]
    again = api.delete(f"/snapshots/{sid}", key=keys.creator)
    assert (again.status, again.error_code) == (404, "not_found")
    assert api.delete(f"/snapshots/{UNKNOWN}", key=keys.creator).status == 404
    assert api.delete("/snapshots/not-an-id", key=keys.creator).status == 404


def test_a_half_done_snapshot_delete_is_finished_by_the_next_call(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.context import threads

    sid = snap(api, keys.creator, "t1")["snapshot_id"]

    def fail(_: Any) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(threads, "_delete_versions", fail)
    assert api.delete(f"/snapshots/{sid}", key=keys.creator).status == 500
    assert api.get(f"/snapshots/{sid}", key=keys.viewer).status == 404  # already invisible
    monkeypatch.undo()
    assert versions_of(sid) == 1
    assert api.delete(f"/snapshots/{sid}", key=keys.creator).status == 404
    assert versions_of(sid) == 0
    assert api.get("/threads", key=keys.viewer).json["items"][0]["snapshots_count"] == 0


# --- DELETE /threads/{id} ---------------------------------------------------------------


@pytest.fixture
def big_thread(api: ApiClient, keys: Keys) -> dict[str, Any]:
    """More than one page (25) of notes and of snapshots, and another thread beside it."""
    notes = [note(api, keys.creator, "big", f"n{i}") for i in range(30)]
    snaps = [snap(api, keys.creator, "big") for _ in range(27)]
    bucket = settings().snapshots_bucket
    aws.s3().put_object(
        Bucket=bucket, Key=f"tenants/acme/snapshots/{snaps[0]['snapshot_id']}.json.gz", Body=b"v2"
    )
    note(api, keys.creator, "other")
    return {"notes": notes, "snapshots": snaps}


def test_delete_thread_removes_everything_in_one_call(
    api: ApiClient, keys: Keys, big_thread: dict[str, Any]
) -> None:
    before = context_items()
    assert api.delete("/threads/big", key=keys.viewer).status == 403
    assert api.delete("/threads/big", key=keys.other_creator).status == 404
    result = api.delete("/threads/big", key=keys.creator)
    assert result.status == 204
    assert context_items() == before - 30 - 27 - 1
    assert all(versions_of(s["snapshot_id"]) == 0 for s in big_thread["snapshots"])
    assert [t["thread_id"] for t in api.get("/threads", key=keys.viewer).json["items"]] == ["other"]
    assert api.delete("/threads/big", key=keys.creator).status == 404
    # the id can be used afresh
    assert note(api, keys.creator, "big")["thread_id"] == "big"
    assert api.get("/threads", key=keys.viewer).json["items"][0]["notes_count"] == 1


def test_delete_thread_answers_202_with_progress_then_finishes(
    api: ApiClient, keys: Keys, big_thread: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_THREAD_DELETE_BUDGET_SECONDS", "0")
    reset_settings()
    first = api.delete("/threads/big", key=keys.creator)
    assert first.status == 202
    assert first.json == {
        "thread_id": "big",
        "status": "deleting",
        "remaining": {"notes": 5, "snapshots": 27},
    }
    # invisible from the first call on
    sid = big_thread["snapshots"][0]["snapshot_id"]
    nid = big_thread["notes"][-1]["note_id"]
    assert api.get("/threads", key=keys.viewer).json["items"][0]["thread_id"] == "other"
    assert api.get("/notes", key=keys.viewer, query={"thread_id": "big"}).json["items"] == []
    assert api.get(f"/notes/{nid}", key=keys.viewer).status == 404
    assert api.delete(f"/notes/{nid}", key=keys.creator).status == 404
    assert api.get("/snapshots", key=keys.viewer, query={"thread_id": "big"}).json["items"] == []
    assert api.get(f"/snapshots/{sid}", key=keys.viewer).status == 404
    assert api.delete(f"/snapshots/{sid}", key=keys.creator).status == 404
    assert api.get(f"/rehydrate/{sid}", key=keys.viewer).status == 404
    assert api.get("/rehydrate", key=keys.viewer, query={"thread_id": "big"}).status == 404
    # writes into it are refused while it is being deleted, and leave nothing behind
    conflict = api.post("/notes", key=keys.creator, json_body={"thread_id": "big", "text": "x"})
    assert (conflict.status, conflict.error_code) == (409, "conflict")
    body = {"thread": {"id": "big"}}
    refused = api.post("/hydrate", key=keys.creator, json_body=body)
    assert (refused.status, refused.error_code) == (409, "conflict")
    statuses = []
    for _ in range(10):
        result = api.delete("/threads/big", key=keys.creator)
        statuses.append(result.status)
        if result.status == 204:
            break
        assert result.json["status"] == "deleting"
    # with no budget each call does one batch: 5 notes, 25 snapshots, 2 snapshots, done
    assert statuses == [202, 202, 202, 204]
    assert all(versions_of(s["snapshot_id"]) == 0 for s in big_thread["snapshots"])
    listed = aws.s3().list_object_versions(Bucket=settings().snapshots_bucket)
    assert listed.get("Versions", []) == []  # the refused hydrate left no object either
    assert api.delete("/threads/big", key=keys.creator).status == 404


def test_delete_thread_unknown_and_bad_ids(api: ApiClient, keys: Keys) -> None:
    note(api, keys.other_creator, "theirs")
    for thread in ("theirs", "nope", "Bad!"):
        result = api.delete(f"/threads/{thread}", key=keys.creator)
        assert (result.status, result.error_code) == (404, "not_found")
    assert api.get("/threads", key=keys.other_viewer).json["items"][0]["thread_id"] == "theirs"
