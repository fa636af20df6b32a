"""Every place that validates a slug says what a slug is, with one message."""

from __future__ import annotations

import pytest

from common.runtime.slug import SLUG_MESSAGE, SLUG_PATTERN, is_slug
from tests.conftest import ApiClient, Keys, Result


@pytest.mark.parametrize("value", ["a", "0", "a.b_c-d", "x" * 64])
def test_slugs(value: str) -> None:
    assert is_slug(value)


@pytest.mark.parametrize("value", ["", "-a", ".a", "A", "a b", "é", "x" * 65, "a/b"])
def test_not_slugs(value: str) -> None:
    assert not is_slug(value)


def test_the_message_names_the_rule() -> None:
    assert SLUG_MESSAGE == "must be a slug: 1-64 of a-z 0-9 . _ -, starting with a letter or digit"
    assert SLUG_PATTERN == r"^[a-z0-9][a-z0-9._-]{0,63}$"


def details(result: Result) -> list[dict[str, str]]:
    body = result.json
    assert body["error"]["code"] == "validation_error"
    found: list[dict[str, str]] = body["error"]["details"]
    return found


def test_post_notes_thread_id(api: ApiClient, keys: Keys) -> None:
    result = api.post("/notes", key=keys.creator, json_body={"thread_id": "Bad Id", "text": "x"})

    assert result.status == 400
    assert details(result) == [{"field": "thread_id", "message": SLUG_MESSAGE}]


def test_post_hydrate_thread_id(api: ApiClient, keys: Keys) -> None:
    result = api.post("/hydrate", key=keys.creator, json_body={"thread": {"id": "-x"}})

    assert result.status == 400
    assert details(result) == [{"field": "thread.id", "message": SLUG_MESSAGE}]


def test_post_agents_name(api: ApiClient, keys: Keys) -> None:
    result = api.post("/agents", key=keys.creator, json_body={"name": "Builder 1"})

    assert result.status == 400
    assert details(result) == [{"field": "name", "message": SLUG_MESSAGE}]


@pytest.mark.parametrize("path", ["/notes", "/rehydrate"])
def test_query_thread_id(api: ApiClient, keys: Keys, path: str) -> None:
    result = api.get(path, key=keys.viewer, query={"thread_id": "UPPER"})

    assert result.status == 400
    assert details(result) == [{"field": "thread_id", "message": SLUG_MESSAGE}]
