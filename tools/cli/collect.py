"""Collect a git repository's working state for `POST /hydrate`, using `git` itself.

- commits: `git log` (sha, subject, author, ISO time), newest first;
- changes: `git status --porcelain=v1 -z` (staged, unstaged, untracked), refined by
  `git diff --name-status -z -M HEAD` so renames carry their old path;
- markers: TODO / FIXME / NOTE / HACK / QUESTION in the comments of tracked text files
  (`git ls-files`), skipping binaries, large files and vendored folders.  A marker is
  the upper-case word right after a comment opener, followed by `:`, `(` or
  whitespace, so "notes" or "annotate" never count as NOTE.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

MARKER_KINDS = ("TODO", "FIXME", "NOTE", "HACK", "QUESTION")
SKIPPED_DIRS = frozenset(
    {"node_modules", "vendor", "third_party", "dist", "build", ".venv", "venv", "__pycache__"}
)
MAX_FILE_BYTES = 1024 * 1024
MAX_MARKERS = 5000
MAX_CHANGES = 20_000
MAX_TEXT = 500
# A comment opener (# but not a markdown ##, //, /*, <!--, --, ;, or a block comment's
# leading *), then the
# marker as an upper-case word, an optional "(who)", then ":" "(" whitespace or the end.
MARKER = re.compile(
    r"(?:(?<!#)#(?!#)|//|/\*|<!--|--|;|^\s*\*)\s*"
    r"(?P<kind>TODO|FIXME|NOTE|HACK|QUESTION)\b(?:\([^)]*\))?(?=[:(\s]|$)[:\s]*(?P<text>.*)$"
)
_COMMENT_CLOSERS = re.compile(r"\s*(?:\*/|-->)\s*$")


class GitError(RuntimeError):
    """git failed or the directory is not a repository."""


def git(repo: Path, *args: str) -> bytes:
    try:
        completed = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"cannot run git: {exc}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise GitError(message or f"git {' '.join(args)} failed")
    return completed.stdout


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def repo_root(path: Path) -> Path:
    return Path(_text(git(path, "rev-parse", "--show-toplevel")).strip())


def has_head(repo: Path) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError:
        return False
    return True


def repo_info(repo: Path) -> dict[str, str]:
    info = {"name": repo.name, "branch": "", "head": ""}
    try:
        info["branch"] = _text(git(repo, "symbolic-ref", "--short", "-q", "HEAD")).strip()
    except GitError:
        info["branch"] = "(detached)"
    if has_head(repo):
        info["head"] = _text(git(repo, "rev-parse", "HEAD")).strip()
    return info


def commits(repo: Path, limit: int) -> list[dict[str, str]]:
    """The last `limit` commits, newest first."""
    if limit <= 0 or not has_head(repo):
        return []
    raw = _text(git(repo, "log", f"-n{limit}", "--format=%H%x1f%s%x1f%an%x1f%aI%x1e"))
    result = []
    for record in raw.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 4:
            sha, message, author, timestamp = fields
            result.append(
                {"sha": sha, "message": message, "author": author, "timestamp": timestamp}
            )
    return result


_STATUS_WORDS = {"A": "added", "D": "deleted", "R": "renamed", "C": "added", "M": "modified"}


def _status_word(code: str) -> str:
    for letter in ("R", "C", "D", "A"):
        if letter in code:
            return _STATUS_WORDS[letter]
    return "added" if code == "??" else "modified"


def changes(repo: Path) -> list[dict[str, str]]:
    """Changed paths: status (including untracked), with renames from name-status vs HEAD."""
    found: dict[str, dict[str, str]] = {}
    entries = git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all").split(b"\0")
    index = 0
    while index < len(entries):
        entry = _text(entries[index])
        index += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        change = {"path": path, "status": _status_word(code)}
        if "R" in code or "C" in code:  # -z: the old path is the next entry
            old = _text(entries[index]) if index < len(entries) else ""
            index += 1
            if "R" in code and old:
                change["old_path"] = old
        found[path] = change
    if has_head(repo):
        _refine_with_name_status(repo, found)
    return list(found.values())[:MAX_CHANGES]


def _refine_with_name_status(repo: Path, found: dict[str, dict[str, str]]) -> None:
    parts = [_text(p) for p in git(repo, "diff", "--name-status", "-z", "-M", "HEAD").split(b"\0")]
    index = 0
    while index < len(parts):
        code = parts[index]
        index += 1
        if not code:
            continue
        if code[0] in "RC":
            old, new = parts[index], parts[index + 1]
            index += 2
            if code[0] == "R":
                found.pop(old, None)
                found[new] = {"path": new, "status": "renamed", "old_path": old}
            continue
        path = parts[index]
        index += 1
        if path not in found:
            found[path] = {"path": path, "status": _STATUS_WORDS.get(code[0], "modified")}


IGNORE_FILE = ".dockhandignore"


class PathFilter:
    """Paths to leave out: `.dockhandignore` at the repository root and `--exclude GLOB`s,
    both in gitignore syntax (pathspec's GitIgnoreSpec: negation, anchoring, `**` and
    directory patterns behave exactly as in .gitignore, which a hand-rolled fnmatch does
    not).  .gitignore itself needs nothing: every path comes from git."""

    def __init__(self, repo: Path, excludes: Sequence[str] = ()) -> None:
        from pathspec import GitIgnoreSpec

        lines: list[str] = []
        ignore_file = repo / IGNORE_FILE
        if ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        self._spec = GitIgnoreSpec.from_lines([*lines, *excludes])

    def excluded(self, path: str) -> bool:
        return self._spec.match_file(path)


def tracked_files(repo: Path, paths: PathFilter | None = None) -> Iterator[str]:
    from tools.cli.secretscan import is_secret_file

    for raw in git(repo, "ls-files", "-z").split(b"\0"):
        path = _text(raw)
        if not path or SKIPPED_DIRS.intersection(path.split("/")[:-1]):
            continue
        if is_secret_file(path) or (paths is not None and paths.excluded(path)):
            continue  # files that commonly hold secrets are never read
        yield path


def _read_text(path: Path) -> str | None:
    """The file's text, or None for binaries, large files and unreadable ones."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def markers_in_text(path: str, text: str) -> Iterator[dict[str, Any]]:
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        found = MARKER.search(line)
        if not found or _inside_string(line, found.start()):
            continue
        body = _COMMENT_CLOSERS.sub("", found.group("text")).strip()[:MAX_TEXT]
        marker: dict[str, Any] = {
            "path": path,
            "line": number,
            "kind": found.group("kind"),
            "text": body,
        }
        context = _context_line(lines, number)
        if context:
            marker["context"] = context
        yield marker


def _inside_string(line: str, position: int) -> bool:
    """A heuristic: an odd number of quotes before the opener means it sits in a string."""
    before = line[:position]
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def _context_line(lines: list[str], number: int) -> str | None:
    """One line of context: the next non-blank line (what the comment is about)."""
    for candidate in lines[number : number + 3]:
        if candidate.strip():
            return candidate.strip()[:MAX_TEXT]
    return None


def markers(repo: Path, paths: PathFilter | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for path in tracked_files(repo, paths):
        text = _read_text(repo / path)
        if text is None:
            continue
        for marker in markers_in_text(path, text):
            result.append(marker)
            if len(result) >= MAX_MARKERS:
                return result
    return result


def slugify(name: str) -> str:
    """A thread id from a directory name: lower case, [a-z0-9._-], 1-64, starts alnum."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:64]
    return slug or "thread"


def collect(
    repo_dir: Path,
    *,
    thread_id: str | None = None,
    persona: str | None = None,
    goal: str | None = None,
    focus: str | None = None,
    constraints: str | None = None,
    max_commits: int = 50,
    excludes: Sequence[str] = (),
) -> dict[str, Any]:
    """The `POST /hydrate` body for the repository containing `repo_dir` (not yet
    scanned for secrets: see tools/secretscan.py)."""
    repo = repo_root(repo_dir)
    paths = PathFilter(repo, excludes)
    thread: dict[str, str] = {"id": thread_id or slugify(repo.name)}
    named = (("persona", persona), ("goal", goal), ("focus", focus), ("constraints", constraints))
    for name, value in named:
        if value:
            thread[name] = value
    return {
        "thread": thread,
        "repo": repo_info(repo),
        "commits": commits(repo, max_commits),
        "changes": [c for c in changes(repo) if not paths.excluded(c["path"])],
        "markers": markers(repo, paths),
    }
