"""`dockhand snapshot`'s Project section: the README's first paragraph of prose (front
matter, badges, HTML, headings skipped), layout, languages, test command; secrets in it
scrubbed before anything is sent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tools.cli import collect, project, secretscan

SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("readme", "summary"),
    [
        (
            "# Title\n\nA tiny HTTP client.\nIt retries.\n\n## Install\n",
            "A tiny HTTP client. It retries.",
        ),
        (
            "---\ntitle: x\nlayout: home\n---\n# T\n\nReal text here.\n",
            "Real text here.",
        ),
        (
            '<p align="center">\n  <img src="logo.png">\n</p>\n<!-- a\nmulti-line comment -->\n'
            "[![CI](https://x/badge.svg)](https://x) ![v](https://y.svg)\n\n"
            "Fast [docs](https://d) for <b>you</b>.\n",
            "Fast docs for you.",
        ),
        ("Title\n=====\n\nSetext prose.\n", "Setext prose."),
        (".. image:: x.png\n\nProject\n-------\n\nRST prose.\n", "RST prose."),
        ("```\ncode first\n```\n\n> quote\n\n- a list\n\nProse after.\n", "Prose after."),
        (
            "It does two things:\n\n- **reads** files\n- writes `them`. Twice.\n",
            "It does two things: reads files; writes them.",
        ),
        ("---\nnever closed\n", ""),
        (
            '<div align="center"><img src="x.svg"></div>\n\n# Lib\n\n... so sign this\n\n'
            "Helpers to pass data to untrusted places and back.\n",
            "Helpers to pass data to untrusted places and back.",
        ),
        ("# Only a heading\n", ""),
    ],
)
def test_readme_summary(readme: str, summary: str) -> None:
    assert project.readme_summary(readme) == summary


def test_a_long_paragraph_is_cut_at_a_sentence() -> None:
    text = "This is one sentence. " * 60
    summary = project.readme_summary(text)
    assert len(summary) <= project.SUMMARY_CHARS
    assert summary.endswith("sentence.")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "z@example.com")
    git(tmp_path, "config", "user.name", "Zoë")
    return tmp_path


def _write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_describe_a_python_repository(repo: Path) -> None:
    _write(
        repo,
        {
            "README.md": "# lib\n\nA small parsing library.\n",
            "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n",
            "src/lib/__init__.py": "",
            "src/lib/parse.py": "",
            "tests/test_parse.py": "",
            "docs/index.md": "",
            ".github/workflows/ci.yml": "",
        },
    )
    body = collect.collect(repo, thread_id="t")
    assert body["project"] == {
        "summary": "A small parsing library.",
        "layout": ["docs/", "src/", "tests/", "README.md", "pyproject.toml"],
        "languages": [{"name": "Python", "files": 3}, {"name": "Markdown", "files": 2}],
        "test_command": "pytest",
    }


@pytest.mark.parametrize(
    ("files", "command"),
    [
        ({"Makefile": "lint:\n\truff .\ntest: lint\n\tpytest\n", "pytest.ini": ""}, "make test"),
        ({"Makefile": "TEST := 1\ntest := 2\n"}, ""),
        ({"package.json": json.dumps({"scripts": {"test": "vitest"}})}, "npm test"),
        (
            {"package.json": json.dumps({"scripts": {"test": "jest"}}), "pnpm-lock.yaml": ""},
            "pnpm test",
        ),
        (
            {
                "package.json": json.dumps(
                    {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
                )
            },
            "",
        ),
        ({"package.json": "{not json"}, ""),
        ({"setup.cfg": "[tool:pytest]\n"}, "pytest"),
        ({"pyproject.toml": "not = [toml"}, ""),
        ({"Cargo.toml": "[package]\n"}, "cargo test"),
        ({"go.mod": "module x\n"}, "go test ./..."),
    ],
)
def test_test_command(tmp_path: Path, files: dict[str, str], command: str) -> None:
    _write(tmp_path, files)
    assert project.test_command(tmp_path) == command


def test_secrets_in_the_readme_are_scrubbed_before_sending(repo: Path) -> None:
    _write(repo, {"README.md": f"Deploy with key {SECRET} set.\n", "Makefile": "test:\n\ttrue\n"})
    body, findings = secretscan.scrub(collect.collect(repo, thread_id="t"))
    assert SECRET not in json.dumps(body)
    assert "Deploy with key" in body["project"]["summary"]
    assert findings


def test_merge_commits_are_flagged(repo: Path) -> None:
    _write(repo, {"a.txt": "a"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    git(repo, "checkout", "-qb", "side")
    _write(repo, {"b.txt": "b"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "side work")
    git(repo, "checkout", "-q", "main")
    _write(repo, {"c.txt": "c"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main work")
    git(repo, "merge", "-q", "--no-edit", "-m", "Merge side (final)", "side")
    commits = collect.commits(repo, 10)
    assert [c.get("merge", False) for c in commits] == [True, False, False, False]
