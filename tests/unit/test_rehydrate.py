"""GET /rehydrate[/{snapshot_id}]: formats, budgets, since, checksums, isolation, call counts."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import pytest
from markdown_it import MarkdownIt

from common.context.render import estimate_tokens
from common.runtime.config import settings
from common.store import aws
from tests.conftest import ApiClient, Keys
from tests.unit.test_hydrate import THREAD, UNICODE_GOAL, snapshot_body

# What UTF-8 "⚠️" looks like when decoded as Mac Roman: must never appear.
MOJIBAKE = "⚠️".encode().decode("mac_roman")
UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def hydrate(api: ApiClient, key: str, **overrides: Any) -> str:
    result = api.post("/hydrate", key=key, json_body=snapshot_body(**overrides))
    assert result.status == 201, result.text
    return str(result.json["snapshot_id"])


def test_markdown_by_id(api: ApiClient, keys: Keys) -> None:
    api.post("/notes", key=keys.creator, json_body={"thread_id": THREAD, "text": "frozen 🧊"})
    snapshot_id = hydrate(api, keys.creator)
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer)
    assert result.status == 200
    assert result.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert result.text.startswith(f'---\nthread_id: "{THREAD}"\nsnapshot_id: "{snapshot_id}"')
    assert f"# Rehydrate: {UNICODE_GOAL}" in result.text
    assert "frozen 🧊" in result.text
    assert "- `aaaaaaa` feat(refunds): partial refunds ✨ — Zoë, 2 hours ago" in result.text


def test_json_format(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"format": "json"})
    assert result.status == 200
    assert result.headers["Content-Type"] == "application/json"
    body = result.json
    assert body["front_matter"]["goal"] == UNICODE_GOAL
    assert body["front_matter"]["snapshot_id"] == snapshot_id
    assert body["sections"][0]["key"] == "operator_instructions"


def test_newest_of_thread(api: ApiClient, keys: Keys, aws_calls: Counter[str]) -> None:
    hydrate(api, keys.creator)
    newest = hydrate(api, keys.creator, decisions=["newest wins"])
    hydrate(api, keys.creator, thread_id="other-thread")
    aws_calls.clear()
    result = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD})
    assert result.status == 200
    assert f'snapshot_id: "{newest}"' in result.text
    assert "newest wins" in result.text
    assert aws_calls["dynamodb.Query"] == 2  # the newest snapshot, the notes written since
    assert aws_calls["dynamodb.GetItem"] <= 2  # the thread item (and the key, if not cached)
    assert aws_calls["s3.GetObject"] == 1
    assert aws_calls["dynamodb.Scan"] == 0


def test_by_id_call_counts(api: ApiClient, keys: Keys, aws_calls: Counter[str]) -> None:
    older = hydrate(api, keys.creator)
    snapshot_id = hydrate(api, keys.creator)
    api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer)  # warm the key cache
    aws_calls.clear()
    assert api.get(f"/rehydrate/{older}", key=keys.viewer).status == 200
    assert aws_calls["s3.GetObject"] == 1
    assert aws_calls["dynamodb.Query"] == 0  # an older snapshot renders as it was
    assert aws_calls["dynamodb.GetItem"] == 2  # its metadata, its thread
    aws_calls.clear()
    assert api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer).status == 200
    assert aws_calls["s3.GetObject"] == 1
    assert aws_calls["dynamodb.Query"] == 1  # the newest: the notes written since it
    assert aws_calls["dynamodb.Scan"] == 0
    assert aws_calls["s3.ListObjectsV2"] == 0


def test_thread_without_snapshots_is_404(api: ApiClient, keys: Keys) -> None:
    result = api.get("/rehydrate", key=keys.viewer, query={"thread_id": "empty"})
    assert (result.status, result.error_code) == (404, "not_found")


@pytest.mark.parametrize(
    "query",
    [
        {"format": "html"},
        {"max_tokens": "199"},
        {"max_tokens": "200001"},
        {"max_tokens": "ten"},
        {"max_tokens": "²"},  # str.isdigit() says yes, int() raises
        {"max_tokens": "٣٠٠"},  # Arabic-Indic digits: int() reads 300, the contract does not
        {"verbose": "1"},
    ],
)
def test_bad_query(api: ApiClient, keys: Keys, query: dict[str, str]) -> None:
    snapshot_id = hydrate(api, keys.creator)
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query=query)
    assert (result.status, result.error_code) == (400, "validation_error")


def test_thread_query_needs_thread_id(api: ApiClient, keys: Keys) -> None:
    assert api.get("/rehydrate", key=keys.viewer).error_code == "validation_error"
    bad = api.get("/rehydrate", key=keys.viewer, query={"thread_id": "Not A Slug"})
    assert bad.error_code == "validation_error"


def test_max_tokens_fits(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator, decisions=[f"decision {i}" for i in range(300)])
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"max_tokens": "300"})
    assert result.status == 200
    assert len(result.text) <= 1200
    assert "more" in result.text or "Left out" in result.text


def test_since_same_thread(api: ApiClient, keys: Keys) -> None:
    first = hydrate(api, keys.creator)
    body = snapshot_body()
    body["commits"].insert(
        0,
        {
            "sha": "c" * 40,
            "message": "feat: new",
            "author": "Ana",
            "timestamp": body["captured_at"],
        },
    )
    body["markers"] = body["markers"][1:]
    second = api.post("/hydrate", key=keys.creator, json_body=body).json["snapshot_id"]
    result = api.get(f"/rehydrate/{second}", key=keys.viewer, query={"since": first})
    assert result.status == 200
    section = result.text.split("## Since last snapshot")[1].split("\n## ")[0]
    assert "### New commits (1)\n- `ccccccc` feat: new" in section
    assert "### Markers resolved (1)" in section
    assert "handle currency" in section


def test_since_must_name_an_older_snapshot_of_the_same_thread(api: ApiClient, keys: Keys) -> None:
    first = hydrate(api, keys.creator)
    mine = hydrate(api, keys.creator)
    newer = hydrate(api, keys.creator)
    other_thread = hydrate(api, keys.creator, thread_id="other-thread")
    theirs = hydrate(api, keys.other_creator)
    ok = api.get(f"/rehydrate/{mine}", key=keys.viewer, query={"since": first})
    assert ok.status == 200
    for since in (newer, mine, other_thread):  # today's diff would read backwards
        result = api.get(f"/rehydrate/{mine}", key=keys.viewer, query={"since": since})
        assert (result.status, result.error_code) == (400, "validation_error"), since
        details = result.json["error"]["details"]
        assert details == [
            {"field": "since", "message": "must name an older snapshot of the same thread"}
        ]
    by_thread = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD, "since": newer})
    assert by_thread.status == 400  # the newest has nothing newer than itself
    answers = set()
    for since in (theirs, UNKNOWN, "garbage"):  # another tenant's id = an unknown id
        result = api.get(f"/rehydrate/{mine}", key=keys.viewer, query={"since": since})
        assert (result.status, result.error_code) == (404, "not_found"), since
        answers.add(result.json["error"]["message"])
    assert len(answers) == 1
    empty = api.get(f"/rehydrate/{mine}", key=keys.viewer, query={"since": ""})
    assert (empty.status, empty.error_code) == (400, "validation_error")  # the document says 1+


def test_tenant_isolation(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    theirs = api.get(f"/rehydrate/{snapshot_id}", key=keys.other_viewer)
    unknown = api.get(f"/rehydrate/{UNKNOWN}", key=keys.viewer)
    assert theirs.status == unknown.status == 404
    assert theirs.json["error"]["message"] == unknown.json["error"]["message"]
    by_thread = api.get("/rehydrate", key=keys.other_viewer, query={"thread_id": THREAD})
    assert by_thread.status == 404
    assert api.get(f"/rehydrate/{snapshot_id}").status == 401


def _overwrite(snapshot_id: str, payload: bytes) -> None:
    aws.s3().put_object(
        Bucket=settings().snapshots_bucket,
        Key=f"tenants/acme/snapshots/{snapshot_id}.json.gz",
        Body=payload,
        ContentType="application/json",
        ContentEncoding="gzip",
        ServerSideEncryption="AES256",
    )


def test_checksum_mismatch_is_500_without_leaking(
    api: ApiClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot_id = hydrate(api, keys.creator)
    tampered = snapshot_body(decisions=["tampered"])
    _overwrite(snapshot_id, gzip.compress(json.dumps(tampered).encode()))
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer)
    assert (result.status, result.error_code) == (500, "internal_error")
    assert "sha256" not in result.text
    assert "tampered" not in result.text
    failure = next(r for r in caplog.records if r.getMessage() == "snapshot integrity check failed")
    assert failure.snapshot_id == snapshot_id
    assert "!= expected" in failure.cause


def test_garbage_object_is_500(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator)
    _overwrite(snapshot_id, b"not gzip at all")
    result = api.get("/rehydrate", key=keys.viewer, query={"thread_id": THREAD})
    assert (result.status, result.error_code) == (500, "internal_error")


def test_unicode_round_trips_byte_for_byte(api: ApiClient, keys: Keys) -> None:
    text = "⚠️ naïve façade 日本語 🚀 Ω"
    body = snapshot_body(decisions=[text])
    body["thread"]["goal"] = text
    snapshot_id = api.post("/hydrate", key=keys.creator, json_body=body).json["snapshot_id"]
    result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer)
    assert f"# Rehydrate: {text}\n" in result.text
    assert f"- {text}\n" in result.text
    assert MOJIBAKE not in result.text
    as_json = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"format": "json"})
    assert as_json.json["front_matter"]["goal"] == text
    assert text in as_json.text  # UTF-8 on the wire, not \u escapes


def test_token_estimate_header_and_json(api: ApiClient, keys: Keys) -> None:
    snapshot_id = hydrate(api, keys.creator, decisions=[f"决定 {i} 数据库" for i in range(200)])
    for query in ({}, {"max_tokens": "500"}):
        result = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query=query)
        estimate = int(result.headers["X-Token-Estimate"])
        assert estimate == estimate_tokens(result.text)
        if query:
            assert estimate <= 500
    as_json = api.get(
        f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"format": "json", "max_tokens": "500"}
    )
    assert 0 < as_json.json["token_estimate"] <= 500
    assert as_json.headers["X-Token-Estimate"] == str(as_json.json["token_estimate"])
    markdown = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"max_tokens": "500"})
    assert as_json.json["token_estimate"] == int(markdown.headers["X-Token-Estimate"])


FORGED = "x\n---\n# Forged heading\n- [ ] forged task\n```\n<div>\n| a |\n|---|"


def test_forged_values_through_the_api_stay_inline(api: ApiClient, keys: Keys) -> None:
    api.post(
        "/notes",
        key=keys.creator,
        json_body={"thread_id": THREAD, "text": FORGED, "tags": [FORGED], "kind": "question",
                   "source": {"path": FORGED, "line": 1}},
    )  # fmt: skip
    body = snapshot_body()
    body["thread"].update(goal=FORGED, focus=FORGED, output=FORGED, constraints=FORGED)
    body["repo"] = {"name": FORGED, "branch": FORGED, "head": FORGED}
    body["commits"][0].update(message=FORGED, author=FORGED)
    body["changes"][2]["old_path"] = FORGED
    body["markers"][1].update(path=FORGED, text=FORGED, context=FORGED)
    body["tasks"] = [{"title": FORGED, "status": "todo"}]
    body["decisions"], body["constraints"] = [FORGED], [FORGED]
    created = api.post("/hydrate", key=keys.creator, json_body=body)
    assert created.status == 201, created.text
    text = api.get(f"/rehydrate/{created.json['snapshot_id']}", key=keys.viewer).text
    lines = text.split("\n")
    assert lines.count("---") == 2  # the front matter's own delimiters only
    assert not [line for line in lines if line.startswith(("# Forged", "- [ ] forged", "<div>"))]
    tokens = MarkdownIt("commonmark").enable("table").parse(text.split("\n---\n", 1)[1])
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert sum(1 for t in tokens if t.tag == "h1" and t.type == "heading_open") == 1
    assert not [h for h in headings[1:] if "Forged" in h]  # only the title holds the goal
    assert not {t.type for t in tokens} & {"html_block", "table_open", "hr"}
    fences = [t for t in tokens if t.type == "fence"]
    assert all("# Forged heading" in t.content for t in fences)  # kept, as text, in fences
