"""max_tokens on snapshots of several shapes: it always fits, value decides what stays.

Shapes: commit-heavy, change-heavy, marker-heavy, notes-heavy, CJK-heavy, tiny, and
one with huge free texts; budgets from the minimum up.  Checked on every pair: the
estimate fits, every cut line says what it left out with the right plural and the
right count, each section keeps a prefix of its entries (the most recent / relevant
first), persona guidance gives way before the snapshot's own sections, and from 1,000
tokens on no non-empty section is reduced to a bare count.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.synthetic import synthetic_snapshot
from common.context.render import estimate_tokens, render_json, render_markdown
from common.context.render.document import plural

CJK = "数据库连接失败请检查网络设置后重试我们需要在下一个版本中修复这个问题"
SPECIFIC = (
    "since_last_snapshot",
    "open_questions",
    "current_changes",
    "recent_progress",
    "tasks",
    "notes",
    "decisions_constraints",
)
CUT_LINE = re.compile(r"^_\.\.\. and (.+)_$", re.MULTILINE)
CUT = re.compile(r"(\d+) more (.+?)(?=, \d+ more | and \d+ more |$)")


def shaped(shape: str) -> dict[str, Any]:
    sizes = {
        "commit-heavy": {"changes": 5, "commits": 800, "markers": 5, "notes": 5, "tasks": 3},
        "change-heavy": {"changes": 5000, "commits": 10, "markers": 10, "notes": 5, "tasks": 3},
        "marker-heavy": {"changes": 20, "commits": 10, "markers": 2000, "notes": 5, "tasks": 3},
        "notes-heavy": {"changes": 20, "commits": 10, "markers": 10, "notes": 1500, "tasks": 3},
        "cjk-heavy": {"changes": 200, "commits": 200, "markers": 200, "notes": 200, "tasks": 20},
        "tiny": {"changes": 1, "commits": 1, "markers": 1, "notes": 1, "tasks": 1},
        "huge-texts": {"changes": 3, "commits": 3, "markers": 3, "notes": 4, "tasks": 2},
    }[shape]
    snapshot = synthetic_snapshot(**sizes)
    if shape == "cjk-heavy":
        for commit in snapshot["commits"]:
            commit["message"] = f"feat: {CJK}"
        for note in snapshot["notes"]:
            note["text"] = CJK * 3
        for marker in snapshot["markers"]:
            marker["text"] = CJK
        snapshot["thread"]["goal"] = CJK
    if shape == "huge-texts":
        for note in snapshot["notes"]:
            note["text"] = "word " * 2000 + "\nsecond line\n" * 50
        snapshot["decisions"] = [CJK * 300]
        snapshot["thread"]["constraints"] = "no scans " * 10_000
        snapshot["thread"]["goal"] = "goal " * 200
    return snapshot


SHAPES = ("commit-heavy", "change-heavy", "marker-heavy", "notes-heavy", "cjk-heavy", "tiny")
BUDGETS = (200, 300, 600, 1000, 2500, 8000)


def _sections(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in data["sections"]}


@pytest.mark.parametrize("shape", [*SHAPES, "huge-texts"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_budget_on_shapes(shape: str, budget: int) -> None:
    snapshot = shaped(shape)
    previous = synthetic_snapshot(changes=3, commits=3, markers=3, notes=3, tasks=1)
    markdown = render_markdown(snapshot, since=previous, max_tokens=budget)
    data = render_json(snapshot, since=previous, max_tokens=budget)
    full = _sections(render_json(snapshot, since=previous))

    goal_alone = estimate_tokens(f'---\ngoal: "{snapshot["thread"]["goal"]}"\n---\n')
    if goal_alone <= budget // 4:
        assert estimate_tokens(markdown) <= budget
    # else: the goal is never cut, even when it alone outgrows the budget (huge-texts at 200)
    assert snapshot["thread"]["goal"].strip() in markdown
    assert data["token_estimate"] == estimate_tokens(markdown)
    assert markdown.startswith("---\nthread_id:")

    # Every cut line: the right plural, and the counts add up to what JSON says was cut.
    said = 0
    cuts = [cut for line in CUT_LINE.findall(markdown) for cut in CUT.findall(line)]
    for count, noun in cuts:
        assert plural(_singular(noun), int(count)) == noun, (count, noun)
        said += int(count)
    kept = _sections(data)
    assert said == sum(s["omitted"] for s in kept.values())

    for key, section in kept.items():  # a prefix of each group, most recent first
        original = full[key]["items"]
        for group in {i.get("group") for i in section["items"]}:
            mine = [i for i in section["items"] if i.get("group") == group]
            theirs = [i for i in original if i.get("group") == group]
            assert mine == theirs[: len(mine)]

    # From 1,000 tokens on nothing is left out, unless a goal of 1,000 characters (kept
    # whole) takes a fifth of the budget: then generic persona guidance may go.
    if budget >= 1000 and (goal_alone < 100 or budget >= 2500):
        assert data["left_out"] == []
        assert not data["truncated"]
        for key, section in full.items():
            if section["items"]:
                assert kept[key]["items"], f"{key} reduced to a bare count at {budget}"
    guidance = kept.get("operator_instructions", {"items": []})["items"]
    advice = [i for i in guidance if i.get("group") in ("do", "dont")]
    for key in SPECIFIC:  # persona Do/Don't never outlasts the snapshot's own sections
        if key in kept and full[key]["items"]:
            assert len(kept[key]["items"]) >= min(len(full[key]["items"]), len(advice)), key


def _singular(noun: str) -> str:
    for suffix, base in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if noun.endswith(suffix):
            return noun[: -len(suffix)] + base
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


@pytest.mark.parametrize("shape", SHAPES)
def test_generous_budget_changes_nothing(shape: str) -> None:
    snapshot = shaped(shape)
    assert render_markdown(snapshot, max_tokens=200_000) == render_markdown(snapshot) or (
        estimate_tokens(render_markdown(snapshot)) > 200_000
    )


def test_commits_survive_at_a_thousand_tokens() -> None:
    # Issue #20: "at 1,000 tokens all 50 commits are cut".
    snapshot = synthetic_snapshot(changes=40, commits=50, markers=30, notes=30, tasks=10)
    data = _sections(render_json(snapshot, max_tokens=1000))
    commits = data["recent_progress"]["items"]
    assert commits
    assert commits[0]["sha"] == snapshot["commits"][0]["sha"]
    markdown = render_markdown(snapshot, max_tokens=1000)
    assert re.search(r"_\.\.\. and \d+ more commits_", markdown)


def test_at_300_tokens_the_snapshot_outranks_the_persona() -> None:
    snapshot = synthetic_snapshot(changes=40, commits=50, markers=30, notes=30, tasks=10)
    data = _sections(render_json(snapshot, max_tokens=300))
    specific = sum(len(data[k]["items"]) for k in SPECIFIC if k in data)
    guidance = data.get("operator_instructions", {"items": []})["items"]
    assert specific >= 1
    assert not [i for i in guidance if i.get("group") in ("do", "dont")]


def test_one_more_is_singular() -> None:
    snapshot = synthetic_snapshot(changes=1, commits=2, markers=0, notes=0, tasks=0)
    snapshot["commits"][1]["message"] = "x " * 3000
    snapshot["decisions"], snapshot["constraints"] = [], []
    markdown = render_markdown(snapshot, max_tokens=1000)
    assert "_... and 1 more commit_" in markdown
    assert not re.search(r"\b1 more \w+s\b", markdown)
