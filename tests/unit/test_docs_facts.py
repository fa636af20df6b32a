"""Counts the README and docs state about the code, checked against the code.

A sentence such as "14 Lambda functions" or "43 operations" is a fact about the tree;
when a function, table or route is added, this test names the sentence to update.
Numbers may be written as digits or words ("six tables")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.gen import openapi
from tools.local import infra_model

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16,
}  # fmt: skip
NUMBER = r"(?P<n>\d+|" + "|".join(WORDS) + ")"


def _operations() -> int:
    return sum(len(methods) for methods in openapi.build_document()["paths"].values())


def _tables() -> int:
    return (REPO / "infra" / "tables.tf").read_text("utf-8").count('resource "aws_dynamodb_table"')


def _functions() -> int:
    return len(infra_model.functions())


FACTS = {
    "Lambda functions": (rf"\b{NUMBER} (?:Lambda )?functions\b", _functions),
    "DynamoDB tables": (rf"\b{NUMBER} (?:DynamoDB )?tables\b", _tables),
    "API operations": (rf"\b{NUMBER} operations\b", _operations),
}  # fmt: skip


def _claims(pattern: str) -> list[tuple[str, int, int]]:
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            for match in re.finditer(pattern, line, flags=re.IGNORECASE):
                word = match.group("n").lower()
                found.append(
                    (f"{path.relative_to(REPO)}:{number}", number, WORDS.get(word) or int(word))
                )
    return found


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_every_count_in_the_docs_is_the_codes(fact: str) -> None:
    pattern, actual = FACTS[fact]
    expected = actual()
    wrong = [f"{where} says {n}" for where, _, n in _claims(pattern) if n != expected]
    assert wrong == [], f"{fact}: the code has {expected}; update {wrong}"


def test_the_patterns_find_claims() -> None:
    # The README states the function count and the reference the operation count: if a
    # rewording hides them from the patterns, this test says so rather than passing empty.
    assert _claims(FACTS["Lambda functions"][0])
    assert _claims(FACTS["API operations"][0])
