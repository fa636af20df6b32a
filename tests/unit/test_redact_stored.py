"""Server-side redaction through the API, from a plain HTTP client: what POST /notes and
POST /hydrate store and answer."""

from __future__ import annotations

import gzip
import json

from common.runtime.config import settings
from tests.conftest import ApiClient, Keys
from tests.unit.redact_support import (
    AWS_ID,
    AWS_SECRET,
    GITHUB,
    GITLAB,
    JWT,
    PEM,
    SLACK,
    STRIPE,
    _assert_clean,
)

# --- through the API, from a plain HTTP client -----------------------------------------


def _stored_object(snapshot_id: str) -> str:
    from common.store import aws

    key = f"tenants/acme/snapshots/{snapshot_id}.json.gz"
    body = aws.s3().get_object(Bucket=settings().snapshots_bucket, Key=key)["Body"].read()
    return gzip.decompress(body).decode("utf-8")


def test_a_note_is_redacted_before_it_is_stored(api: ApiClient, keys: Keys) -> None:
    text = f'TODO: password = "hunter22" and {AWS_ID} / {GITHUB}'
    result = api.post(
        "/notes",
        key=keys.creator,
        json_body={
            "thread_id": "t1",
            "text": text,
            "tags": [SLACK],
            "source": {"path": f"{JWT}.py", "line": 1},
        },
    )
    assert result.status == 201
    assert result.json["redactions"] == {
        "secret_keyword": 1,
        "aws_access_key_id": 1,
        "github_token": 1,
        "slack_token": 1,
        "jwt": 1,
    }
    _assert_clean(result.text)
    listed = api.get("/notes", key=keys.viewer, query={"thread_id": "t1"})
    _assert_clean(listed.text)
    assert "[REDACTED:github_token]" in listed.text


def test_a_snapshot_is_redacted_in_s3_and_in_every_read(api: ApiClient, keys: Keys) -> None:
    api.post("/notes", key=keys.creator, json_body={"thread_id": "t1", "text": f"key {STRIPE}"})
    body = {
        "thread": {"id": "t1", "goal": f"ship {GITLAB}", "constraints": PEM},
        "repo": {"name": "r", "branch": f"feature/{AWS_ID}", "head": "abc"},
        "commits": [
            {
                "sha": "a" * 40,
                "message": f"oops {AWS_SECRET} aws_secret_access_key={AWS_SECRET}",
                "author": "dev",
                "timestamp": "2025-01-01T00:00:00Z",
            }
        ],
        "markers": [
            {
                "path": "app.py",
                "line": 3,
                "kind": "TODO",
                "text": 'password = "hunter22"',
                "context": JWT,
            }
        ],
        "decisions": [f"use {SLACK}"],
    }
    result = api.post("/hydrate", key=keys.creator, json_body=body)
    assert result.status == 201
    assert result.json["redactions"] == {
        "gitlab_token": 1,
        "private_key": 1,
        "aws_access_key_id": 1,
        "aws_secret_access_key": 1,
        "secret_keyword": 1,
        "jwt": 1,
        "slack_token": 1,
    }
    snapshot_id = result.json["snapshot_id"]
    stored = _stored_object(snapshot_id)
    # The bare 40-character key in the commit message is not a high-precision kind: the
    # server leaves it (the CLI's detect-secrets pass is the broader one); the assigned
    # one is gone.
    assert "aws_secret_access_key=[REDACTED:aws_secret_access_key]" in stored
    _assert_clean(stored.replace(f"oops {AWS_SECRET}", ""))
    for fmt in ("markdown", "json"):
        document = api.get(f"/rehydrate/{snapshot_id}", key=keys.viewer, query={"format": fmt})
        assert document.status == 200
        _assert_clean(document.text.replace(f"oops {AWS_SECRET}", ""))
    assert "[REDACTED:stripe_key]" in json.loads(stored)["notes"][0]["text"]


def test_a_placeholder_longer_than_the_secret_does_not_fail_validation(
    api: ApiClient, keys: Keys
) -> None:
    """Validation ran before redaction: a field at its length limit still stores."""
    text = "x" * 9990 + 'pwd="ab"'
    result = api.post("/notes", key=keys.creator, json_body={"thread_id": "t1", "text": text})
    assert result.status == 201
    assert result.json["text"].endswith('pwd="[REDACTED:secret_keyword]"')
