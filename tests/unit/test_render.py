"""The pure renderer: sections and their order, categories, personas, budgets, since, unicode."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from bench.synthetic import synthetic_snapshot
from common.context.render import (
    categorize,
    estimate_tokens,
    render_json,
    render_markdown,
)
from tests.unit.render_support import NOW, doc

MOJIBAKE = "⚠️".encode().decode("mac_roman")  # UTF-8 read as Mac Roman


def headings(markdown: str) -> list[str]:
    return re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)


def test_sections_in_contract_order() -> None:
    markdown = render_markdown(doc())
    assert markdown.startswith('---\nthread_id: "payments"\n')
    assert "\n# Rehydrate: Partial refunds ⚠️ café 数据\n" in markdown
    assert headings(markdown) == [
        "Operator Instructions",
        "Recent Progress",
        "Current Changes",
        "Decisions & Constraints",
        "Tasks",
        "Notes",
        "Open Questions",
    ]


def test_front_matter_fields() -> None:
    front = render_markdown(doc()).split("---\n")[1]
    keys = [line.split(":", 1)[0] for line in front.strip().splitlines()]
    assert keys == [
        "thread_id", "snapshot_id", "created_at", "goal", "persona", "focus", "output",
        "constraints", "file_count", "commit_count",
    ]  # fmt: skip
    assert "file_count: 8\n" in front
    assert "commit_count: 2\n" in front


def test_empty_sections_are_left_out() -> None:
    markdown = render_markdown(
        doc(commits=[], changes=[], markers=[], decisions=[], constraints=[], tasks=[], notes=[])
    )
    assert headings(markdown) == ["Operator Instructions"]


def test_operator_instructions_from_persona() -> None:
    markdown = render_markdown(doc())
    assert "**Role:** Senior backend developer" in markdown
    assert "**Primary focus:** refund API" in markdown
    assert "**Repository:** shop on branch `feature/refunds` at `abc123def456`" in markdown
    assert "### Do\n" in markdown
    assert "### Don't\n" in markdown
    assert "### Tasks for this session\n1. Drive the goal to done: Partial refunds" in markdown


@pytest.mark.parametrize(
    ("persona", "role"),
    [
        ("generalist", "Software engineer picking up this thread"),
        ("senior-backend-dev", "Senior backend developer"),
        ("frontend-dev", "Frontend developer"),
        ("devops-engineer", "DevOps engineer"),
        ("qa-engineer", "QA engineer"),
        ("tech-lead", "Tech lead"),
        ("astronaut", "Software engineer picking up this thread"),
    ],
)
def test_personas_and_unknown_falls_back_to_generalist(persona: str, role: str) -> None:
    document = doc()
    document["thread"]["persona"] = persona
    markdown = render_markdown(document)
    assert f"**Role:** {role}" in markdown
    assert f'persona: "{persona}"' in markdown


def test_recent_progress_ages_are_relative_to_the_snapshot() -> None:
    markdown = render_markdown(doc())
    assert "- `aaaaaaa` feat(refunds): partial refunds — Zoë, 3 hours ago" in markdown
    assert "- `bbbbbbb` fix: refunds rounding — 李雷, 2 days ago" in markdown
    assert "long body" not in markdown


@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("common/api.py", "Backend"),
        ("web/src/App.tsx", "Frontend"),
        ("web/styles.css", "Frontend"),
        ("package.json", "Configuration"),
        ("web/src/data.json", "Configuration"),
        ("pyproject.toml", "Configuration"),
        ("requirements-dev.txt", "Configuration"),
        ("config/app.yaml", "Configuration"),
        ("tests/unit/test_api.py", "Tests"),
        ("pkg/api_test.py", "Tests"),
        ("pkg/test_api.py", "Tests"),
        ("web/App.test.tsx", "Tests"),
        ("infra/main.tf", "Infrastructure"),
        ("modules/x/variables.tf", "Infrastructure"),
        ("Dockerfile", "Infrastructure"),
        (".github/workflows/ci.yml", "Infrastructure"),
        ("docs/context.md", "Documentation"),
        ("README.md", "Documentation"),
        ("assets/logo.png", "Other"),
    ],
)
def test_categories(path: str, category: str) -> None:
    assert categorize(path) == category


def test_current_changes_groups_and_caps_paths() -> None:
    markdown = render_markdown(doc())
    assert "8 files across 4 categories." in markdown
    backend = next(line for line in markdown.splitlines() if line.startswith("- **Backend**"))
    assert backend.startswith("- **Backend** (5): `app/refunds.py` (modified), `app/models.py`")
    assert backend.endswith("... and 2 more files")
    assert "`app/new.py` (renamed from `app/old.py`)" not in backend  # 4th and 5th are cut
    order = re.findall(r"^- \*\*(\w+)\*\*", markdown, flags=re.MULTILINE)
    assert order[:4] == ["Infrastructure", "Backend", "Configuration", "Tests"]


def _commit(index: int, message: str, author: str = "Zoë", day: int = 15) -> dict[str, Any]:
    return {
        "sha": f"{index:040x}",
        "message": message,
        "author": author,
        "timestamp": f"2025-01-{day:02d}T09:00:00Z",
    }


def test_velocity_counts_focus_areas_of_the_listed_commits() -> None:
    commits = [
        _commit(1, "feat(refunds): partial refunds", "Zoë", 15),
        _commit(2, "fix: refunds rounding", "李雷", 14),
        _commit(3, "feat: refunds ledger", "Zoë", 13),
        _commit(4, "fix: ledger totals", "Zoë", 11),
        _commit(5, "Merge branch 'main' into refunds", "Zoë", 11),
    ]
    section = render_markdown(doc(commits=commits)).split("## Development Velocity")[1]
    section = section.split("\n## ")[0]
    assert "1.0 commits a day over 4 days, 2 authors." in section  # merges left out
    assert "- **feat**: 2 commits" in section
    assert "- **fix**: 2 commits" in section
    assert "- refunds: 3 mentions" in section
    assert "- ledger: 2 mentions" in section
    assert "50 commits" not in section
    assert "**" + "5 commits" not in section


def test_velocity_that_says_nothing_is_left_out() -> None:
    one_word = [_commit(i, f"tweak query {i}") for i in range(50)]  # "query" 50 times
    assert "## Development Velocity" not in render_markdown(doc(commits=one_word))
    assert "## Development Velocity" not in render_markdown(doc())  # every word seen once


def test_merges_are_counted_not_listed_and_a_shared_author_named_once() -> None:
    commits = [
        _commit(1, "feat: refunds"),
        _commit(2, "Merge pull request #12 from shop/refunds"),
        _commit(3, "fix: rounding"),
        {**_commit(4, "Merge coldstart (final)"), "merge": True},
        _commit(5, "Merge branch 'main'"),
    ]
    progress = render_markdown(doc(commits=commits)).split("## Recent Progress")[1]
    progress = progress.split("\n## ")[0]
    assert "All by Zoë." in progress
    assert "3 merge commits counted, not listed." in progress
    assert "Merge" not in progress.replace("merge commits", "")
    assert progress.count("\n- `") == 2
    assert "Zoë," not in progress  # not repeated on every line
    two = render_markdown(doc(commits=[_commit(1, "a"), _commit(2, "b", "Ana")]))
    assert "— Zoë, " in two
    assert "— Ana, " in two
    assert "All by" not in two
    one_merge = render_markdown(doc(commits=[_commit(1, "a"), _commit(2, "Merge tag 'v1'")]))
    assert "1 merge commit counted, not listed." in one_merge


def test_tasks_percent_and_markers() -> None:
    markdown = render_markdown(doc())
    assert "1 / 3 done (33%)." in markdown
    assert "- [x] API" in markdown
    assert "- [~] UI (in progress)" in markdown
    assert "### TODO markers in code (1)" in markdown


def test_notes_grouped_and_open_questions() -> None:
    markdown = render_markdown(doc())
    notes = markdown.split("\n## Notes\n")[1].split("\n## Open Questions")[0]
    assert "### Decisions (1)\n- Use cents #money" in notes
    assert "### Notes (1)\n- Stripe sandbox is slow" in notes
    assert "NOTE** kept for v1 clients" in notes
    assert "Who approves" not in notes
    questions = markdown.split("## Open Questions")[1]
    assert (
        "- `app/refunds.py:40` **QUESTION** refund fees too\n  > `fee = total * rate`" in questions
    )
    assert "`app/api.py:3` **FIXME** race on retry" in questions
    assert "- Who approves? 🤔 (`app/api.py:7`)" in questions
    assert "handle currency" not in questions


def test_json_has_the_same_sections() -> None:
    data = render_json(doc())
    assert [s["title"] for s in data["sections"]] == headings(render_markdown(doc()))
    assert data["front_matter"]["goal"] == "Partial refunds ⚠️ café 数据"
    tasks = next(s for s in data["sections"] if s["key"] == "tasks")
    assert tasks["summary"] == {"done": 1, "total": 3, "percent": 33}
    changes = next(s for s in data["sections"] if s["key"] == "current_changes")
    assert changes["items"][1]["category"] == "Backend"
    assert changes["items"][1]["more"] == 2


def test_since_section_diffs_commits_files_and_markers() -> None:
    previous = doc(
        snapshot_id="01JHSNAP000000000000000000",
        commits=[doc()["commits"][1]],
        changes=[{"path": "app/refunds.py", "status": "modified"}],
        markers=[
            {"path": "app/refunds.py", "line": 10, "kind": "TODO", "text": "handle currency"},
            {"path": "app/old.py", "line": 1, "kind": "HACK", "text": "gone now"},
        ],
    )
    markdown = render_markdown(doc(), since=previous)
    assert headings(markdown)[1] == "Since last snapshot"
    section = markdown.split("## Since last snapshot")[1].split("\n## ")[0]
    assert "### New commits (1)\n- `aaaaaaa`" in section
    assert "### Files changed since (7)" in section
    assert "`app/refunds.py` (modified)" not in section
    assert "### Markers added (3)" in section
    assert "handle currency" not in section  # moved lines, same marker
    assert "### Markers resolved (1)\n- `app/old.py:1` **HACK** gone now" in section


def test_since_same_snapshot_says_nothing_changed() -> None:
    markdown = render_markdown(doc(), since=doc())
    section = markdown.split("## Since last snapshot")[1].split("\n## ")[0]
    assert "Nothing changed." in section
    assert "###" not in section


def test_unicode_survives_in_every_field() -> None:
    text = "⚠️ naïve façade 日本語 🚀 Ω"
    document = doc(decisions=[text], constraints=[text], tasks=[{"title": text, "status": "todo"}])
    document["thread"].update(goal=text, focus=text, output=text, constraints=text)
    document["commits"][0]["message"] = text
    document["commits"][0]["author"] = text
    document["changes"][0]["path"] = f"app/{text}.py"
    document["markers"][1]["text"] = text
    document["notes"][0]["text"] = text
    markdown = render_markdown(document)
    assert markdown.count(text) >= 10
    assert MOJIBAKE not in markdown
    roundtrip = markdown.encode("utf-8").decode("utf-8")
    assert roundtrip == markdown


@pytest.mark.parametrize("max_tokens", [200, 500, 2000, 10_000])
def test_budget_always_fits_and_says_what_was_cut(max_tokens: int) -> None:
    big = synthetic_snapshot(changes=2000, commits=300, markers=500, notes=200)
    markdown = render_markdown(big, max_tokens=max_tokens)
    assert len(markdown) <= max_tokens * 4
    assert "more" in markdown or "Left out" in markdown or "cut to fit" in markdown
    assert markdown.startswith("---\nthread_id:")


def test_budget_keeps_snapshot_sections_before_persona_guidance() -> None:
    big = synthetic_snapshot(changes=500, commits=200, markers=100, notes=100)
    full = render_markdown(big)
    markdown = render_markdown(big, max_tokens=estimate_tokens(full) // 3)
    assert estimate_tokens(markdown) <= estimate_tokens(full) // 3
    progress = markdown.split("## Recent Progress")[1].split("\n## ")[0]
    assert progress.count("\n- `") >= 2  # commits kept, newest first, after what people wrote
    assert "`0000000`" in progress
    assert re.search(r"_\.\.\. and \d+ more commits_", progress)
    assert "## Decisions & Constraints" in markdown
    assert "Decision 0" in markdown


def test_budget_leaves_out_whole_sections_with_a_note() -> None:
    big = synthetic_snapshot(changes=100, commits=50, markers=50, notes=50)
    markdown = render_markdown(big, max_tokens=200)
    assert len(markdown) <= 800
    data = render_json(big, max_tokens=200)
    assert data["left_out"] or data["truncated"] or any(s["omitted"] for s in data["sections"])


def test_generous_budget_changes_nothing() -> None:
    document = doc()
    assert render_markdown(document, max_tokens=200_000) == render_markdown(document)


def test_json_budget_reports_omitted_counts() -> None:
    big = synthetic_snapshot(changes=500, commits=200, markers=100, notes=100)
    data = render_json(big, max_tokens=3000)
    progress = next((s for s in data["sections"] if s["key"] == "recent_progress"), None)
    if progress is not None:
        assert progress["omitted"] + len(progress["items"]) == 200
    else:
        assert "recent_progress" in [s["key"] for s in data["left_out"]]


def test_renderer_does_not_mutate_its_input() -> None:
    document = doc()
    before = copy.deepcopy(document)
    render_markdown(document, since=doc(), max_tokens=300)
    render_json(document, since=doc(), max_tokens=300)
    assert document == before


def test_large_snapshot_renders_whole_and_within_a_budget() -> None:
    # Speed and linearity are measured by `make bench` (bench/render_cost.py), not here:
    # a timed assertion fails on a busy machine and proves nothing on a fast one.
    big = synthetic_snapshot(changes=10_000, commits=1_000, markers=2_000, notes=1_000)
    markdown = render_markdown(big)
    budgeted = render_markdown(big, since=big, max_tokens=5000)
    assert "10000 files across" in markdown
    assert len(budgeted) < len(markdown)


def test_bad_timestamps_do_not_break_rendering() -> None:
    document = doc()
    document["commits"][0]["timestamp"] = "not a time"
    document["captured_at"] = None
    markdown = render_markdown(document)
    assert "at an unknown time" in markdown


# --- the document, for an assistant (#20) -----------------------------------------------


def _tasks_for_session(markdown: str) -> str:
    return markdown.split("### Tasks for this session\n")[1].split("\n\n", maxsplit=1)[0]


def test_persona_tasks_follow_what_the_snapshot_holds() -> None:
    with_fixme = _tasks_for_session(render_markdown(doc()))
    assert "Turn the 1 FIXME marker into issues or fixes" in with_fixme
    bare = doc(markers=[], changes=[], notes=[], tasks=[])
    tasks = _tasks_for_session(render_markdown(bare))
    assert "FIXME" not in tasks
    assert "open question" not in tasks
    assert "backend" not in tasks
    assert tasks.startswith("1. Drive the goal to done:")


@pytest.mark.parametrize("persona", ["generalist", "qa-engineer", "tech-lead", "devops-engineer"])
def test_no_persona_task_about_nothing(persona: str) -> None:
    bare = doc(markers=[], changes=[], notes=[], tasks=[], decisions=[], commits=[])
    bare["thread"]["persona"] = persona
    tasks = _tasks_for_session(render_markdown(bare))
    assert tasks.count("\n") == 0  # the goal only: nothing else to point at
    assert re.fullmatch(r"1\. .+", tasks)


def test_context_lines_that_carry_nothing_are_dropped() -> None:
    empty_contexts = ["pass", "```", "}", "});", "", "   ", "# TODO: the next one", "...", "end"]
    markers = [
        {"path": "a.py", "line": i + 1, "kind": "QUESTION", "text": f"q{i}", "context": c}
        for i, c in enumerate(empty_contexts)
    ]
    markers.append(
        {
            "path": "b.py",
            "line": 1,
            "kind": "QUESTION",
            "text": "multi",
            "context": "}\nrate = fee * 2\npass\n// NOTE: other\nreturn rate",
        }
    )
    questions = render_markdown(doc(markers=markers, notes=[])).split("## Open Questions")[1]
    assert ">" not in questions.split("**QUESTION** multi")[0]  # none of the empty ones
    block = questions.split("**QUESTION** multi\n")[1]
    assert block.startswith("  ```\n  rate = fee * 2\n  return rate\n  ```")


def test_focus_areas_leave_out_stop_words() -> None:
    commits = [
        {"sha": f"{i:040x}", "author": "a", "timestamp": NOW, "message": message}
        for i, message in enumerate(
            [
                "fix: use the cursor instead of the offset",
                "next: make the cursor and the offset agree",
                "Fix cursor encoding, and then some more",
                "chore: update the cursor docs next",
            ]
        )
    ]
    section = render_markdown(doc(commits=commits)).split("## Development Velocity")[1]
    section = section.split("\n## ")[0]
    words = re.findall(r"^- (\w+): \d+ mentions?$", section, flags=re.MULTILINE)
    assert words[0] == "cursor"
    assert not {"instead", "next", "the", "and", "fix", "use", "make", "then", "more"} & set(words)


def test_markers_in_markdown_files_are_not_in_code() -> None:
    docs_only = [{"path": "README.md", "line": 3, "kind": "TODO", "text": "write usage"}]
    markdown = render_markdown(doc(markers=docs_only))
    assert "### TODO markers in docs (1)" in markdown
    assert "in code" not in markdown
    mixed = [*docs_only, {"path": "app/x.py", "line": 1, "kind": "TODO", "text": "t"}]
    assert "### TODO markers (2)" in render_markdown(doc(markers=mixed))


def test_plurals_in_counts() -> None:
    one = doc(commits=[doc()["commits"][0]], changes=[doc()["changes"][0]])
    markdown = render_markdown(one)
    assert "1 file across 1 category." in markdown
    assert "1 commits" not in markdown
    assert "1 authors" not in markdown


def test_multi_line_note_keeps_its_lines_inside_a_fence() -> None:
    note = {"note_id": "N9", "kind": "note", "text": "Plan:\n- step one\n# not a heading"}
    markdown = render_markdown(doc(notes=[note]))
    assert "- Plan:\n  ```\n  - step one\n  # not a heading\n  ```" in markdown
    assert "\n# not a heading" not in markdown


def test_json_title_is_the_goal_as_given() -> None:
    document = doc()
    document["thread"]["goal"] = "a_b *c* # [x] `y`"
    assert render_json(document)["title"] == "Rehydrate: a_b *c* # [x] `y`"
    assert "\n# Rehydrate: a_b \\*c\\* # \\[x] \\`y\\`\n" in render_markdown(document)
