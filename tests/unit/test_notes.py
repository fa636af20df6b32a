"""POST/GET/DELETE /notes: validation, pagination, tenant isolation, roles, thread item."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from common.context import notes, thread_item
from common.runtime.config import settings
from common.store import counters, ddb
from tests.conftest import ApiClient, Keys

THREAD = "api-redesign"


def post(api: ApiClient, key: str, **body: Any) -> Any:
    return api.post("/notes", key=key, json_body={"thread_id": THREAD, "text": "hi", **body})


def stored_thread(tenant: str, thread_id: str = THREAD) -> dict[str, Any] | None:
    return thread_item.get_thread(tenant, thread_id)


def test_create_returns_the_note_with_defaults(api: ApiClient, keys: Keys) -> None:
    result = post(api, keys.creator, text="Use ULIDs ✅ café 数据")
    assert result.status == 201
    body = result.json
    assert set(body) == {
        *("note_id", "thread_id", "kind", "text", "source", "tags", "created_at", "redactions")
    }
    assert body["redactions"] == {}
    assert body["kind"] == "note"
    assert body["tags"] == []
    assert body["source"] is None
    assert body["text"] == "Use ULIDs ✅ café 数据"
    assert body["created_at"].endswith("Z")
    fetched = api.get(f"/notes/{body['note_id']}", key=keys.viewer)
    assert fetched.status == 200
    assert fetched.json == {k: v for k, v in body.items() if k != "redactions"}


def test_create_is_one_transaction_with_thread_and_counter(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    result = post(api, keys.creator, kind="decision", source={"path": "a.py", "line": 3})
    assert result.status == 201
    assert aws_calls["dynamodb.TransactWriteItems"] == 1
    assert aws_calls["dynamodb.PutItem"] == 0
    thread = stored_thread("acme")
    assert thread is not None
    assert thread["notes_count"] == 1
    assert thread["snapshots_count"] == 0
    assert thread["gsi2pk"] == "T#acme#THREADS"
    assert thread["gsi2sk"] == f"{thread['last_activity']}#{THREAD}"
    day = result.json["created_at"][:10]
    assert counters.read_day("acme", day) == {"notes_created": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thread_id": "Bad Slug", "text": "x"}, "thread_id"),
        ({"thread_id": "-starts-with-dash", "text": "x"}, "thread_id"),
        ({"thread_id": "a" * 65, "text": "x"}, "thread_id"),
        ({"thread_id": THREAD, "text": ""}, "text"),
        ({"thread_id": THREAD, "text": "x" * 10_001}, "text"),
        ({"thread_id": THREAD, "text": "x", "kind": "idea"}, "kind"),
        ({"thread_id": THREAD, "text": "x", "tags": ["t"] * 21}, "tags"),
        ({"thread_id": THREAD, "text": "x", "tags": ["t" * 65]}, "tags.0"),
        ({"thread_id": THREAD, "text": "x", "source": {"path": "a", "line": 0}}, "source.line"),
        ({"thread_id": THREAD, "text": "x", "source": {"path": "a", "line": "3"}}, "source.line"),
        (
            {"thread_id": THREAD, "text": "x", "source": {"path": "a", "line": 1, "x": 1}},
            "source.x",
        ),
        ({"thread_id": THREAD, "text": "x", "owner": "me"}, "owner"),
        ({"text": "x"}, "thread_id"),
    ],
)
def test_bad_bodies_are_validation_errors(
    api: ApiClient, keys: Keys, body: dict[str, Any], field: str
) -> None:
    result = api.post("/notes", key=keys.creator, json_body=body)
    assert result.status == 400
    assert result.error_code == "validation_error"
    assert field in [d["field"] for d in result.json["error"]["details"]]


def test_limits_are_inclusive(api: ApiClient, keys: Keys) -> None:
    result = api.post(
        "/notes",
        key=keys.creator,
        json_body={
            "thread_id": "a" * 64,
            "text": "x" * 10_000,
            "tags": ["t" * 64] * 20,
            "source": {"path": "p", "line": 1},
        },
    )
    assert result.status == 201


def test_not_json_and_wrong_media_type(api: ApiClient, keys: Keys) -> None:
    bad = api.post(
        "/notes", key=keys.creator, body="{nope", headers={"content-type": "application/json"}
    )
    assert (bad.status, bad.error_code) == (400, "invalid_json")
    text = api.post("/notes", key=keys.creator, body="{}", headers={"content-type": "text/plain"})
    assert (text.status, text.error_code) == (415, "unsupported_media_type")


def test_viewer_cannot_write_and_anonymous_cannot_read(api: ApiClient, keys: Keys) -> None:
    assert post(api, keys.viewer).status == 403
    note_id = post(api, keys.creator).json["note_id"]
    assert api.delete(f"/notes/{note_id}", key=keys.viewer).status == 403
    assert api.get(f"/notes/{note_id}").status == 401
    assert api.get("/notes", query={"thread_id": THREAD}).status == 401
    assert api.get(f"/notes/{note_id}", key=keys.viewer).status == 200


def test_list_oldest_first_paginated_and_filtered_by_kind(api: ApiClient, keys: Keys) -> None:
    created = [
        post(api, keys.creator, text=f"n{i}", kind="question" if i % 2 else "note").json
        for i in range(5)
    ]
    post(api, keys.creator, thread_id="other-thread", text="elsewhere")
    seen, cursor = [], None
    while True:
        query = {"thread_id": THREAD, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/notes", key=keys.viewer, query=query)
        assert page.status == 200
        seen.extend(page.json["items"])
        assert page.json["has_more"] == (page.json["next_cursor"] is not None)
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert [n["note_id"] for n in seen] == [n["note_id"] for n in created]
    questions = api.get("/notes", key=keys.viewer, query={"thread_id": THREAD, "kind": "question"})
    assert [n["text"] for n in questions.json["items"]] == ["n1", "n3"]


def test_list_needs_a_valid_thread_and_kind(api: ApiClient, keys: Keys) -> None:
    for query in (
        {},
        {"thread_id": "Bad!"},
        {"thread_id": THREAD, "kind": "idea"},
        {"thread_id": THREAD, "limit": "0"},
        {"thread_id": THREAD, "sort": "x"},
    ):
        result = api.get("/notes", key=keys.viewer, query=query)
        assert (result.status, result.error_code) == (400, "validation_error"), query


def test_cursor_is_bound_to_tenant_and_query(api: ApiClient, keys: Keys) -> None:
    for i in range(3):
        post(api, keys.creator, text=f"n{i}")
    cursor = api.get("/notes", key=keys.viewer, query={"thread_id": THREAD, "limit": "1"}).json[
        "next_cursor"
    ]
    assert cursor
    other_tenant = api.get(
        "/notes", key=keys.other_viewer, query={"thread_id": THREAD, "cursor": cursor}
    )
    assert other_tenant.error_code == "invalid_cursor"
    other_query = api.get(
        "/notes", key=keys.viewer, query={"thread_id": THREAD, "kind": "note", "cursor": cursor}
    )
    assert other_query.error_code == "invalid_cursor"
    altered = api.get(
        "/notes", key=keys.viewer, query={"thread_id": THREAD, "cursor": "x" + cursor}
    )
    assert altered.error_code == "invalid_cursor"


def test_tenant_isolation_on_every_route(api: ApiClient, keys: Keys) -> None:
    note_id = post(api, keys.creator, text="acme secret").json["note_id"]
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for nid in (note_id, unknown):
        got = api.get(f"/notes/{nid}", key=keys.other_viewer)
        assert (got.status, got.error_code) == (404, "not_found")
        deleted = api.delete(f"/notes/{nid}", key=keys.other_creator)
        assert (deleted.status, deleted.error_code) == (404, "not_found")
    assert (
        got.json["error"]["message"]
        == api.get(f"/notes/{unknown}", key=keys.viewer).json["error"]["message"]
    )
    listing = api.get("/notes", key=keys.other_viewer, query={"thread_id": THREAD})
    assert listing.json["items"] == []
    assert api.get(f"/notes/{note_id}", key=keys.viewer).status == 200  # still there
    assert api.get("/notes/not-an-id", key=keys.viewer).status == 404


def test_delete_removes_and_decrements(api: ApiClient, keys: Keys) -> None:
    first = post(api, keys.creator).json["note_id"]
    post(api, keys.creator)
    assert api.delete(f"/notes/{first}", key=keys.creator).status == 204
    assert api.get(f"/notes/{first}", key=keys.viewer).status == 404
    assert api.delete(f"/notes/{first}", key=keys.creator).status == 404
    thread = stored_thread("acme")
    assert thread is not None
    assert thread["notes_count"] == 1
    listing = api.get("/notes", key=keys.viewer, query={"thread_id": THREAD})
    assert len(listing.json["items"]) == 1


def test_racing_delete_loses_on_the_condition(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deletes that both read the note: the second one's conditional delete fails → 404,
    and the thread count is decremented once.  (Deterministic: the race is replayed by
    handing the loser a stale read, since moto does not serialise threads like DynamoDB.)"""
    note_id = post(api, keys.creator).json["note_id"]
    stale = notes.get_note("acme", note_id)
    assert api.delete(f"/notes/{note_id}", key=keys.creator).status == 204
    monkeypatch.setattr(notes, "get_note", lambda tenant, nid: stale)
    loser = api.delete(f"/notes/{note_id}", key=keys.creator)
    assert (loser.status, loser.error_code) == (404, "not_found")
    thread = stored_thread("acme")
    assert thread is not None
    assert thread["notes_count"] == 0


def test_throttled_write_is_503_and_stores_nothing(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from common.store import aws

    client = aws.dynamodb()

    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "AWS detail"}},
            "TransactWriteItems",
        )

    monkeypatch.setattr(client, "transact_write_items", throttled)
    result = post(api, keys.creator)
    assert result.status == 503
    assert "Retry-After" in result.headers
    assert "AWS detail" not in result.text
    monkeypatch.undo()
    raw = aws.dynamodb().scan(TableName=settings().context_table)["Items"]
    assert [ddb.deserialize(i) for i in raw] == []
