"""Redaction belongs to the domain: `notes.create_note` and `snapshots.hydrate` redact
what they store themselves, so no caller (HTTP, MCP, a future one) can store a secret
by forgetting to; their answers carry the count by kind."""

from __future__ import annotations

import gzip
import json

import pytest

from common.context import notes, snapshots
from common.runtime.config import settings
from common.store import aws, dynamo
from common.store.tables import PK, SK
from tests.unit.redact_support import AWS_ID, GITHUB, JWT, SLACK, STRIPE

pytestmark = pytest.mark.usefixtures("aws")


def _stored_note(note_id: str) -> str:
    item = dynamo.get(settings().context_table, {PK: notes.note_pk("acme", note_id), SK: "N"})
    assert item is not None
    return json.dumps(item, default=str)


def test_create_note_called_directly_stores_no_secret() -> None:
    note = notes.NoteIn(
        thread_id="t1",
        text=f'password = "hunter22" and {GITHUB}',
        tags=[SLACK],
        source=notes.SourceRef(path=f"{JWT}.py", line=1),
    )
    created = notes.create_note("acme", note)
    assert created["redactions"] == {
        "secret_keyword": 1,
        "github_token": 1,
        "slack_token": 1,
        "jwt": 1,
    }
    stored = _stored_note(created["note_id"])
    for secret in ("hunter22", GITHUB, SLACK, JWT):
        assert secret not in stored
    assert "[REDACTED:github_token]" in stored
    assert created["text"] == 'password = "[REDACTED:secret_keyword]" and [REDACTED:github_token]'


def test_a_clean_note_answers_no_redactions() -> None:
    created = notes.create_note("acme", notes.NoteIn(thread_id="t1", text="plain"))
    assert created["redactions"] == {}
    assert list(created)[-1] == "redactions"  # the answer's field order: the view's, then it
    assert notes.public_note(notes.get_note("acme", created["note_id"]))["text"] == "plain"


def test_hydrate_called_directly_stores_no_secret() -> None:
    snapshot = snapshots.SnapshotIn.model_validate(
        {
            "thread": {"id": "t1", "goal": f"ship {STRIPE}"},
            "repo": {"name": "r", "branch": f"feature/{AWS_ID}"},
            "decisions": [f"use {SLACK}"],
        }
    )
    created = snapshots.hydrate("acme", snapshot)
    assert created["redactions"] == {"stripe_key": 1, "aws_access_key_id": 1, "slack_token": 1}
    key = snapshots.object_key("acme", created["snapshot_id"])
    raw = aws.s3().get_object(Bucket=settings().snapshots_bucket, Key=key)["Body"].read()
    stored = gzip.decompress(raw).decode("utf-8")
    for secret in (STRIPE, AWS_ID, SLACK):
        assert secret not in stored
    assert json.loads(stored)["thread"]["goal"] == "ship [REDACTED:stripe_key]"
    meta = snapshots.raw_meta("acme", created["snapshot_id"])
    assert meta is not None
    assert STRIPE not in json.dumps(meta, default=str)
