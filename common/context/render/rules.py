"""Personas and file-category rules: data (JSON next to this module), not branches."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
DEFAULT_PERSONA = "generalist"
OTHER = "Other"
DOCUMENTATION = "Documentation"


def _load(name: str) -> Any:
    return json.loads((_HERE / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Line:
    """A template line: shown only when the snapshot holds what it is about.

    `when` names facts (see `document.snapshot_facts`: "changes", "questions", "fixmes",
    "todos", "open_tasks", "decisions", "changes:<category>", ...); the line is shown when
    their sum is above zero, and `{count}` reads that sum with `noun` ("2 FIXME markers").
    `{goal}` and `{focus}` are the thread's.  No `when`: always shown.
    """

    text: str
    when: tuple[str, ...] = ()
    noun: str = ""


@dataclass(frozen=True)
class Persona:
    name: str
    role: str
    focus: str
    do: tuple[Line, ...]
    dont: tuple[Line, ...]
    tasks: tuple[Line, ...]


def _line(spec: Any) -> Line:
    if isinstance(spec, str):
        return Line(spec)
    when = spec.get("when", ())
    return Line(
        spec["text"], (when,) if isinstance(when, str) else tuple(when), spec.get("noun", "")
    )


@cache
def personas() -> dict[str, Persona]:
    return {
        name: Persona(
            name=name,
            role=spec["role"],
            focus=spec["focus"],
            do=tuple(_line(line) for line in spec["do"]),
            dont=tuple(_line(line) for line in spec["dont"]),
            tasks=tuple(_line(line) for line in spec["tasks"]),
        )
        for name, spec in _load("personas.json").items()
    }


@cache
def stopwords() -> frozenset[str]:
    """Words that say nothing about a commit's focus (English function words and
    commit-message verbs such as "fix", "instead", "next"): stopwords.json."""
    data = _load("stopwords.json")
    return frozenset(
        word.lower() for name, group in data.items() if not name.startswith("_") for word in group
    )


def persona(name: str | None) -> Persona:
    """The named persona's template; unknown (or no) persona → the generalist."""
    table = personas()
    return table.get((name or "").strip().lower(), table[DEFAULT_PERSONA])


@dataclass(frozen=True)
class CategoryRule:
    category: str
    dirs: frozenset[str]
    names: re.Pattern[str] | None  # the name globs as one regex: 10x faster than fnmatch each
    exts: tuple[str, ...]

    def matches(self, directories: list[str], basename: str) -> bool:
        if self.exts and basename.endswith(self.exts):
            return True
        if self.names is not None and self.names.match(basename):
            return True
        return not self.dirs.isdisjoint(directories)


def _globs(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns))


@cache
def category_rules() -> tuple[tuple[str, ...], tuple[CategoryRule, ...]]:
    """(display order, rules in match order: the first rule that matches wins)."""
    data = _load("categories.json")
    rules = tuple(
        CategoryRule(
            category=rule["category"],
            dirs=frozenset(d.lower() for d in rule["dirs"]),
            names=_globs(rule["names"]),
            exts=tuple(e.lower() for e in rule["exts"]),
        )
        for rule in data["rules"]
    )
    return tuple(data["order"]), rules


@lru_cache(maxsize=65_536)
def categorize(path: str) -> str:
    """The category of a repository path (case-insensitive), `Other` when no rule matches."""
    parts = path.replace("\\", "/").lower().split("/")
    directories, basename = parts[:-1], parts[-1]
    for rule in category_rules()[1]:
        if rule.matches(directories, basename):
            return rule.category
    return OTHER
