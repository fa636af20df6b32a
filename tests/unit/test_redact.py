"""Server-side redaction: the patterns, their linearity (by construction, not by timing),
the anchor gate, and dockhand's own secrets. PEM blocks are in test_redact_pem.py; what
POST /notes and POST /hydrate store and answer is in test_redact_stored.py."""

from __future__ import annotations

import importlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from common.context import redact, redact_kinds
from tests.conftest import ApiClient, Keys
from tests.unit.redact_support import (
    AWS_ID,
    AWS_SECRET,
    GITHUB,
    GITLAB,
    JWT,
    PEM,
    SECRETS,
    SLACK,
    STRIPE,
    _assert_clean,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"rotate {AWS_ID} today", "rotate [REDACTED:aws_access_key_id] today"),
        (
            f'aws_secret_access_key = "{AWS_SECRET}"',
            'aws_secret_access_key = "[REDACTED:aws_secret_access_key]"',
        ),
        (
            f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
            "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_access_key]",
        ),
        (f"{PEM}\nafter", "[REDACTED:private_key]\nafter"),
        (f"use {GITHUB}.", "use [REDACTED:github_token]."),
        (f"token {SLACK}", "token [REDACTED:slack_token]"),
        (f"Bearer {JWT}", "Bearer [REDACTED:jwt]"),
        (f"key {STRIPE}", "key [REDACTED:stripe_key]"),
        (GITLAB, "[REDACTED:gitlab_token]"),
        ('TODO: password = "hunter22"', 'TODO: password = "[REDACTED:secret_keyword]"'),
        ("DB_PASSWORD: 'hunter22'", "DB_PASSWORD: '[REDACTED:secret_keyword]'"),
        ("postgres://app:hunter22@db/x", "postgres://app:[REDACTED:basic_auth]@db/x"),
    ],
)
def test_each_kind_is_replaced_by_its_placeholder(text: str, expected: str) -> None:
    found: Counter[str] = Counter()
    assert redact.redact_text(text, found) == expected
    assert sum(found.values()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "def password_hash(password: str) -> str: return token",
        'token: str = ""',
        "self.secret = settings().secret",
        "Revert 0123456789abcdef0123456789abcdef01234567",
        "see https://example.com/path and AKIA alone",
        "ghp_short",
        'password = "[REDACTED:secret_keyword]"',  # already redacted by the client
        "notes about tokenizers and keys",
    ],
)
def test_ordinary_text_and_placeholders_are_left_alone(text: str) -> None:
    found: Counter[str] = Counter()
    assert redact.redact_text(text, found) == text
    assert not found


def test_a_token_inside_a_longer_token_is_not_a_match() -> None:
    assert redact.redact_text("x" + GITHUB) == "x" + GITHUB  # not at a token boundary


def _repeats(parsed: Any, inside_repeat: bool = False) -> Iterator[tuple[Any, bool]]:
    """(repeat node, whether it sits inside another repetition) for a parsed pattern."""
    for op, arg in parsed:
        name = str(op)
        if name.endswith("REPEAT"):
            yield arg, inside_repeat
            # An optional group (at most once) does not multiply the work inside it.
            yield from _repeats(arg[2], inside_repeat or arg[1] > 1)
        elif name in ("SUBPATTERN",):
            yield from _repeats(arg[3], inside_repeat)
        elif name in ("ASSERT", "ASSERT_NOT"):
            yield from _repeats(arg[1], inside_repeat)
        elif name == "BRANCH":
            for branch in arg[1]:
                yield from _repeats(branch, inside_repeat)


def test_patterns_are_bounded_and_anchored_by_construction() -> None:
    """Linearity by review, mechanised on the parsed patterns: every repetition has an
    upper bound, none is nested in another, every pattern starts with a literal or a
    small class (prefix search), is case-sensitive, and has lower-case anchors."""
    parser = importlib.import_module("re._parser")
    for kind in redact.PATTERNS:
        parsed = parser.parse(kind.pattern.pattern)
        for (_low, high, _), nested in _repeats(parsed):
            assert high != parser.MAXREPEAT, f"{kind.name}: unbounded repetition"
            assert high <= 65536
            assert not nested, f"{kind.name}: nested repetition"
        first = str(parsed[0][0])
        assert first in ("LITERAL", "IN", "BRANCH", "SUBPATTERN"), (kind.name, first)
        assert kind.anchors
        assert all(a == a.lower() for a in kind.anchors)
        assert kind.pattern.flags & re.IGNORECASE == 0
    assert [k.name for k in redact.PATTERNS] == list(redact.KINDS)


@pytest.mark.parametrize(
    "unit",
    [
        "eyJ",
        'password="a',
        "AKIA",
        "ghp_",
        "-----BEGIN RSA PRIVATE KEY-----",
        "aws_key=",
        "://a:b@",
    ],
)
def test_pathological_near_matches_still_redact_correctly(unit: str) -> None:
    text = unit * (64 * 1024 // len(unit))
    assert redact.redact_text(text).count("REDACTED") <= len(text) // len(unit)


def test_redact_value_walks_nested_json() -> None:
    found: Counter[str] = Counter()
    value = {"a": [f"x {AWS_ID}", {"b": GITHUB}], "n": 3, "none": None}
    cleaned = redact.redact_value(value, found)
    assert cleaned == {
        "a": ["x [REDACTED:aws_access_key_id]", {"b": "[REDACTED:github_token]"}],
        "n": 3,
        "none": None,
    }
    assert found == {"aws_access_key_id": 1, "github_token": 1}


# --- the anchors gate which patterns run; they never change what is found ---------------


def _ungated(text: str) -> tuple[str, Counter[str]]:
    found: Counter[str] = Counter()
    for kind in redact.PATTERNS:
        text = redact._apply(kind, text, found)
    return text, found


def _corpus() -> Iterator[str]:
    """This repository's own lines (code that talks about keys, tokens and passwords),
    each also with every test secret planted in it, and the examples above."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    planted = [*SECRETS, PEM, JWT, 'password = "hunter22"', "postgres://a:b@h", AWS_SECRET]
    for path in sorted((root / "common").rglob("*.py"))[:40]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            yield line
            yield f"{line} {planted[number % len(planted)]}"
            yield line.upper()


def test_the_anchor_gate_never_changes_what_is_redacted() -> None:
    checked = 0
    for text in _corpus():
        found: Counter[str] = Counter()
        assert (redact.redact_text(text, found), found) == _ungated(text), text
        checked += 1
    assert checked > 1000


def test_every_gate_word_is_part_of_its_anchor() -> None:
    for kind in redact.PATTERNS:
        for anchor in kind.anchors:
            assert redact_kinds.gate_word(anchor) in anchor
            assert redact_kinds.ANY_GATE_WORD.search(anchor), anchor
            assert redact_kinds.ANY_ANCHOR.fullmatch(anchor), anchor


class _Item(BaseModel):
    text: str
    line: int
    note: str | None = None


class _Box(BaseModel):
    items: list[_Item]
    tags: list[str]
    nested: list[list[str]]


def test_lists_gated_by_chunks_still_redact_every_item() -> None:
    """A secret anywhere in a list (first, last, either side of a chunk boundary, in a
    nested list) is found, and clean items are returned as they were."""
    planted = {0: GITHUB, 63: AWS_ID, 64: SLACK, 130: JWT, 199: STRIPE}
    items = [_Item(text=planted.get(i, f"src/module_{i}.py"), line=i) for i in range(200)]
    box = _Box(
        items=items,
        tags=[f"tag {i}" for i in range(100)] + [f"x {GITLAB}"],
        nested=[["plain"], [f'password = "hunter22" {i}' for i in range(3)]],
    )
    clean_item = items[5]
    found = redact.redact_model(box)
    assert found == {
        "github_token": 1,
        "aws_access_key_id": 1,
        "slack_token": 1,
        "jwt": 1,
        "stripe_key": 1,
        "gitlab_token": 1,
        "secret_keyword": 3,
    }
    texts = [item.text for item in box.items]
    assert texts[0] == "[REDACTED:github_token]"
    assert texts[63] == "[REDACTED:aws_access_key_id]"
    assert texts[64] == "[REDACTED:slack_token]"
    assert texts[199] == "[REDACTED:stripe_key]"
    assert box.items[5] is clean_item
    assert box.tags[-1] == "x [REDACTED:gitlab_token]"
    _assert_clean(json.dumps(box.model_dump()))


# --- dockhand's own secrets (CONTRACT Part 3, Hardening 2) --------------------------------

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwqv8I+b5sSYs="


def _minted_key() -> str:
    """A key exactly as common.access.auth.create_key makes one (no AWS needed)."""
    import secrets

    from common.runtime import ids

    return f"dk_{ids.new_id().lower()}_{secrets.token_urlsafe(32)}"


def _minted_webhook_secret() -> str:
    import secrets

    from common.triggers import webhooks

    return webhooks.format_secret(secrets.token_bytes(32))


@pytest.mark.parametrize("n", range(20))  # token_urlsafe and base64 draw - and _, + and /
def test_minted_api_keys_and_webhook_secrets_are_redacted(n: int) -> None:
    key, secret = _minted_key(), _minted_webhook_secret()
    found: Counter[str] = Counter()
    text = f"export DOCKHAND_API_KEY={key}\nBearer {key}, secret: {secret}."
    assert redact.redact_text(text, found) == (
        "export DOCKHAND_API_KEY=[REDACTED:dockhand_api_key]\n"
        "Bearer [REDACTED:dockhand_api_key], secret: [REDACTED:webhook_secret]."
    )
    assert found == {"dockhand_api_key": 2, "webhook_secret": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a key made before ids were ULIDs (16 characters)
        (
            "dk_abcdefghij012345_" + "A" * 43,
            "[REDACTED:dockhand_api_key]",
        ),
        (
            'api_key = "dk_abcdefghij012345_' + "b-_" * 14 + 'c"',
            'api_key = "[REDACTED:dockhand_api_key]"',
        ),
        (f"{WHSEC} {WHSEC}", "[REDACTED:webhook_secret] [REDACTED:webhook_secret]"),
        (f"{AWS_ID} {AWS_SECRET}", "[REDACTED:aws_access_key_id] [REDACTED:aws_secret_access_key]"),
        (
            f"alice,,{AWS_ID},{AWS_SECRET}\n",
            "alice,,[REDACTED:aws_access_key_id],[REDACTED:aws_secret_access_key]\n",
        ),
        (
            f"Access key ID: {AWS_ID}\nSecret: {AWS_SECRET}",
            "Access key ID: [REDACTED:aws_access_key_id]\nSecret: [REDACTED:aws_secret_access_key]",
        ),
        (
            f"secret {AWS_SECRET} for {AWS_ID}",
            "secret [REDACTED:aws_secret_access_key] for [REDACTED:aws_access_key_id]",
        ),
        # the client already redacted the id: the secret next to it still goes
        (
            f"[REDACTED:aws_access_key_id] {AWS_SECRET}",
            "[REDACTED:aws_access_key_id] [REDACTED:aws_secret_access_key]",
        ),
    ],
)
def test_dockhand_kinds_and_the_aws_pair(text: str, expected: str) -> None:
    assert redact.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "sdk_version = 3",
        "dk_abcdefghij012345_" + "A" * 42,  # one character short
        "xdk_abcdefghij012345_" + "A" * 43,  # inside a longer token
        "dk_ABCDEFGHIJ012345_" + "A" * 43,  # ids are lower case
        "whsec_short",
        f"see {AWS_SECRET} alone",  # 40 characters of base64, nothing says it is a key
        f"{AWS_ID[:-1]} {AWS_SECRET}",  # not an access key id
        f"{AWS_ID} fixed in {'9f1c2ab3' * 5}",  # a commit sha next to an id
        f"{AWS_ID} " + "x" * 60 + f" {AWS_SECRET}",  # too far apart
    ],
)
def test_lookalikes_of_the_new_kinds_are_left_alone(text: str) -> None:
    found: Counter[str] = Counter()
    redacted = redact.redact_text(text, found)
    assert not found.keys() & {"dockhand_api_key", "webhook_secret", "aws_secret_access_key"}
    assert "dockhand_api_key" not in redacted
    assert "webhook_secret" not in redacted


def test_a_note_with_dockhands_own_secrets_is_stored_redacted(api: ApiClient, keys: Keys) -> None:
    text = f"creds: {keys.creator} / {WHSEC} / {AWS_ID} {AWS_SECRET}"
    body = {"thread_id": "t1", "text": text, "tags": [WHSEC]}
    result = api.post("/notes", key=keys.creator, json_body=body)
    assert result.status == 201, result.text
    assert result.json["redactions"] == {
        "dockhand_api_key": 1,
        "webhook_secret": 2,
        "aws_access_key_id": 1,
        "aws_secret_access_key": 1,
    }
    listed = api.get("/notes", key=keys.viewer, query={"thread_id": "t1"}).text
    for secret in (keys.creator, WHSEC, AWS_ID, AWS_SECRET):
        assert secret not in listed
        assert secret not in result.text
        assert json.dumps(secret)[1:-1] not in listed


def test_the_cli_redacts_dockhands_own_secrets_too() -> None:
    from detect_secrets.settings import transient_settings

    from tools.cli import secretscan

    scanner = secretscan.Scanner()
    key = _minted_key()
    with transient_settings({"plugins_used": [{"name": n} for n in secretscan.PLUGINS]}):
        cleaned = scanner.clean(f"use {key}\nhook {WHSEC}\n{AWS_ID} {AWS_SECRET}", "--goal")
    for secret in (key, WHSEC, AWS_ID, AWS_SECRET):
        assert secret not in cleaned
    kinds = {f.kind for f in scanner.findings}
    assert {"dockhand_api_key", "webhook_secret", "aws_access_key_id"} <= kinds
    assert "aws_secret_access_key" in kinds
