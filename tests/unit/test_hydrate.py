"""POST /hydrate and GET /snapshots: the strict model, S3 + DynamoDB storage, faults."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.context import notes
from common.runtime.config import settings
from common.runtime.http import MIB
from common.store import aws, counters, ddb
from tests.conftest import ApiClient, Keys

THREAD = "payments"
UNICODE_GOAL = "Ship ⚠️ café résumé 数据 🚀"


def snapshot_body(thread_id: str = THREAD, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "thread": {
            "id": thread_id,
            "goal": UNICODE_GOAL,
            "persona": "senior-backend-dev",
            "focus": "refunds",
            "output": "a PR",
            "constraints": "no downtime",
        },
        "repo": {"name": "shop", "branch": "main", "head": "abc123def456"},
        "commits": [
            {
                "sha": "a" * 40,
                "message": "feat(refunds): partial refunds ✨\n\nbody",
                "author": "Zoë",
                "timestamp": "2025-01-15T10:00:00Z",
            },
            {
                "sha": "b" * 40,
                "message": "fix: rounding",
                "author": "李雷",
                "timestamp": "2025-01-14T12:00:00Z",
            },
        ],
        "changes": [
            {"path": "app/refunds.py", "status": "modified"},
            {"path": "infra/main.tf", "status": "added"},
            {"path": "config/app.json", "status": "renamed", "old_path": "config/old.json"},
        ],
        "markers": [
            {"path": "app/refunds.py", "line": 12, "kind": "TODO", "text": "handle currency"},
            {
                "path": "app/refunds.py",
                "line": 40,
                "kind": "QUESTION",
                "text": "refund fees too?",
                "context": "fee = total * rate",
            },
        ],
        "decisions": ["Refunds are idempotent"],
        "constraints": ["PCI scope unchanged"],
        "tasks": [{"title": "API", "status": "done"}, {"title": "UI", "status": "todo"}],
        "captured_at": "2025-01-15T12:00:00.000Z",
    }
    body.update(overrides)
    return body


def hydrate(api: ApiClient, key: str, body: dict[str, Any] | None = None) -> Any:
    return api.post("/hydrate", key=key, json_body=body or snapshot_body())


def context_items() -> list[dict[str, Any]]:
    raw = aws.dynamodb().scan(TableName=settings().context_table)["Items"]
    return [ddb.deserialize(i) for i in raw]


def bucket_keys() -> list[str]:
    listing = aws.s3().list_object_versions(Bucket=settings().snapshots_bucket)
    return [v["Key"] for v in listing.get("Versions", [])]


def test_hydrate_returns_exactly_the_contract_body(api: ApiClient, keys: Keys) -> None:
    api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "frozen 🧊"})
    result = hydrate(api, keys.creator)
    assert result.status == 201
    body = result.json
    assert set(body) == {
        *("snapshot_id", "thread_id", "created_at", "sha256", "size_bytes", "counts", "redactions")
    }
    assert body["redactions"] == {}
    assert body["thread_id"] == THREAD
    assert body["counts"] == {"commits": 2, "changes": 3, "markers": 2, "notes": 1, "tasks": 2}
    assert len(body["sha256"]) == 64
    meta = {k: v for k, v in body.items() if k != "redactions"}
    assert api.get(f"/snapshots/{body['snapshot_id']}", key=keys.viewer).json == meta


def test_object_is_encrypted_gzip_json_with_checksum(api: ApiClient, keys: Keys) -> None:
    api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "frozen 🧊"})
    body = hydrate(api, keys.creator).json
    key = f"tenants/acme/snapshots/{body['snapshot_id']}.json.gz"
    obj = aws.s3().get_object(Bucket=settings().snapshots_bucket, Key=key)
    assert obj["ServerSideEncryption"] in ("AES256", "aws:kms")
    assert obj["ContentType"] == "application/json"
    assert obj["ContentEncoding"] == "gzip"
    assert obj["Metadata"]["sha256"] == body["sha256"]
    raw = gzip.decompress(obj["Body"].read())
    assert hashlib.sha256(raw).hexdigest() == body["sha256"]
    assert len(raw) == body["size_bytes"]
    document = json.loads(raw.decode("utf-8"))
    assert document["thread"]["goal"] == UNICODE_GOAL
    assert UNICODE_GOAL.encode() in raw  # stored as UTF-8, not \u escapes
    assert [n["text"] for n in document["notes"]] == ["frozen 🧊"]
    assert document["captured_at"] == "2025-01-15T12:00:00.000Z"


def test_metadata_item_and_thread_item(api: ApiClient, keys: Keys) -> None:
    body = hydrate(api, keys.creator).json
    items = {i["sk"]: i for i in context_items()}
    meta = items["S"]
    assert meta["pk"] == f"T#acme#S#{body['snapshot_id']}"
    assert meta["gsi1pk"] == f"T#acme#TH#{THREAD}#S"
    assert meta["sha256"] == body["sha256"]
    assert meta["size_bytes"] == body["size_bytes"]
    assert meta["s3_key"] == f"tenants/acme/snapshots/{body['snapshot_id']}.json.gz"
    assert meta["s3_version_id"]
    thread = items["TH"]
    assert thread["snapshots_count"] == 1
    assert thread["newest_snapshot_id"] == body["snapshot_id"]
    assert thread["goal"] == UNICODE_GOAL
    assert thread["persona"] == "senior-backend-dev"
    assert counters.read_day("acme", body["created_at"][:10]) == {"snapshots_created": 1}


def test_one_put_and_one_transaction(api: ApiClient, keys: Keys, aws_calls: Counter[str]) -> None:
    aws_calls.clear()
    assert hydrate(api, keys.creator).status == 201
    assert aws_calls["s3.PutObject"] == 1
    assert aws_calls["dynamodb.TransactWriteItems"] == 1
    assert aws_calls["dynamodb.Query"] == 1  # the thread's notes, frozen


def test_notes_are_frozen_across_pages(api: ApiClient, keys: Keys) -> None:
    from common.runtime import clock

    moment = 1_736_935_200.0
    for i in range(3):
        clock.set_clock(lambda i=i: moment + i)
        api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": f"n{i}"})
    frozen = list(notes.iter_thread_notes("acme", THREAD, bound=2))
    assert [n["text"] for n in frozen] == ["n0", "n1"]
    body = hydrate(api, keys.creator).json
    assert body["counts"]["notes"] == 3


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"thread": {"id": THREAD, "mood": "x"}}, "thread.mood"),
        ({"thread": {"id": "Bad Id"}}, "thread.id"),
        ({"repo": {"name": "x", "url": "y"}}, "repo.url"),
        (
            {"commits": [{"sha": "a", "message": "m", "author": "x", "timestamp": "yesterday"}]},
            "commits.0.timestamp",
        ),
        (
            {
                "commits": [
                    {
                        "sha": "a",
                        "message": "m",
                        "author": "x",
                        "timestamp": "2025-01-01T00:00:00Z",
                        "extra": 1,
                    }
                ]
            },
            "commits.0.extra",
        ),
        ({"changes": [{"path": "a", "status": "copied"}]}, "changes.0.status"),
        ({"markers": [{"path": "a", "line": 1, "kind": "XXX", "text": "t"}]}, "markers.0.kind"),
        ({"markers": [{"path": "a", "line": 0, "kind": "TODO", "text": "t"}]}, "markers.0.line"),
        ({"tasks": [{"title": "t", "status": "blocked"}]}, "tasks.0.status"),
        ({"decisions": [1]}, "decisions.0"),
        ({"captured_at": "2025-01-01"}, "captured_at"),
        ({"snapshot_id": "forged"}, "snapshot_id"),
    ],
)
def test_strict_model(api: ApiClient, keys: Keys, patch: dict[str, Any], field: str) -> None:
    result = hydrate(api, keys.creator, snapshot_body(**patch))
    assert (result.status, result.error_code) == (400, "validation_error")
    assert field in [d["field"] for d in result.json["error"]["details"]]
    assert context_items() == []
    assert bucket_keys() == []


def test_minimal_body(api: ApiClient, keys: Keys) -> None:
    result = hydrate(api, keys.creator, {"thread": {"id": "t1"}})
    assert result.status == 201
    assert result.json["counts"] == {
        "commits": 0,
        "changes": 0,
        "markers": 0,
        "notes": 0,
        "tasks": 0,
    }


def test_over_5_mib_is_413_before_parsing(
    api: ApiClient, keys: Keys, aws_calls: Counter[str]
) -> None:
    aws_calls.clear()
    huge = "x" * (5 * MIB + 1)
    result = api.post(
        "/hydrate", key=keys.creator, body=huge, headers={"content-type": "application/json"}
    )
    assert (result.status, result.error_code) == (413, "payload_too_large")
    assert aws_calls["dynamodb.GetItem"] == 0  # not even authenticated: refused first


def test_between_256_kib_and_5_mib_is_accepted(api: ApiClient, keys: Keys) -> None:
    body = snapshot_body(decisions=["d" * 50_000] * 20)  # ~1 MB
    result = hydrate(api, keys.creator, body)
    assert result.status == 201
    assert result.json["size_bytes"] > 1_000_000


def test_viewer_cannot_hydrate(api: ApiClient, keys: Keys) -> None:
    assert hydrate(api, keys.viewer).status == 403
    assert api.post("/hydrate", json_body=snapshot_body()).status == 401
    assert context_items() == []


def test_s3_failure_is_503_and_leaves_nothing(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "bucket secret"}}, "PutObject"
        )

    monkeypatch.setattr(aws.s3(), "put_object", failing)
    result = hydrate(api, keys.creator)
    assert (result.status, result.error_code) == (503, "service_unavailable")
    assert result.headers["Retry-After"]
    assert "bucket secret" not in result.text
    assert [i for i in context_items() if i["sk"] in ("S", "TH")] == []


def test_dynamodb_failure_after_s3_removes_the_object(
    api: ApiClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "Transact")

    monkeypatch.setattr(aws.dynamodb(), "transact_write_items", failing)
    result = hydrate(api, keys.creator)
    assert result.status == 503
    assert bucket_keys() == []  # the version itself was deleted, not hidden
    assert context_items() == []


def test_list_snapshots_newest_first_and_paginated(api: ApiClient, keys: Keys) -> None:
    ids = [hydrate(api, keys.creator).json["snapshot_id"] for _ in range(3)]
    hydrate(api, keys.creator, snapshot_body(thread_id="elsewhere"))
    first = api.get("/snapshots", key=keys.viewer, query={"thread_id": THREAD, "limit": "2"})
    assert first.status == 200
    assert [s["snapshot_id"] for s in first.json["items"]] == ids[::-1][:2]
    second = api.get(
        "/snapshots",
        key=keys.viewer,
        query={"thread_id": THREAD, "limit": "2", "cursor": first.json["next_cursor"]},
    )
    assert [s["snapshot_id"] for s in second.json["items"]] == [ids[0]]
    assert second.json["has_more"] is False
    other = api.get(
        "/snapshots",
        key=keys.other_viewer,
        query={"thread_id": THREAD, "limit": "2", "cursor": first.json["next_cursor"]},
    )
    assert other.error_code == "invalid_cursor"


def test_snapshots_tenant_isolation(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator).json["snapshot_id"]
    theirs = api.get(f"/snapshots/{snapshot_id}", key=keys.other_viewer)
    unknown = api.get("/snapshots/01ARZ3NDEKTSV4RRFFQ69G5FAV", key=keys.viewer)
    assert theirs.status == unknown.status == 404
    assert theirs.json["error"]["message"] == unknown.json["error"]["message"]
    listing = api.get("/snapshots", key=keys.other_viewer, query={"thread_id": THREAD})
    assert listing.json["items"] == []
    assert api.get("/snapshots", key=keys.viewer).error_code == "validation_error"


def test_tenants_get_separate_prefixes(api: ApiClient, keys: Keys) -> None:
    hydrate(api, keys.creator)
    hydrate(api, keys.other_creator)
    prefixes = sorted(key.split("/")[1] for key in bucket_keys())
    assert prefixes == ["acme", "globex"]
