"""Collect a git repository's working state for `POST /hydrate`, using `git` itself.

- commits: `git log` (sha, subject, author, ISO time), newest first;
- changes: `git status --porcelain=v1 -z` (staged, unstaged, untracked), refined by
  `git diff --name-status -z -M HEAD` so renames carry their old path;
- markers: TODO / FIXME / NOTE / HACK / QUESTION in the comments of the text files git
  knows or would add (tracked, and untracked ones that are not ignored), skipping
  binaries, large files and vendored folders.  Comments are found by the file type's
  own syntax (COMMENT_SYNTAX: `#` for Python, shell, YAML, TOML; `//` and `/* */` for
  C-like languages, JS/TS, Go, Rust, Java; `--` for SQL, Lua, Haskell; `;` for Lisp,
  INI, assembly; `<!-- -->` for HTML, XML, Markdown), so prose, Markdown bullets and
  headings are never comments; files of unknown types have none.  A marker is the
  upper-case word that starts a comment, followed by `:`, `(` or whitespace, so
  "notes" or "annotate" never count as NOTE.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIPPED_DIRS = frozenset(
    {"node_modules", "vendor", "third_party", "dist", "build", ".venv", "venv", "__pycache__"}
)
MAX_FILE_BYTES = 1024 * 1024
MAX_MARKERS = 5000
MAX_CHANGES = 20_000
MAX_TEXT = 500
# The marker at the start of a comment's text: an upper-case word, an optional "(who)",
# then ":" "(" whitespace or the end.
MARKER = re.compile(
    r"(?P<kind>TODO|FIXME|NOTE|HACK|QUESTION)\b(?:\([^)]*\))?(?=[:(\s]|$)[:\s]*(?P<text>.*)$"
)
# Left over from the opener ("/**", "///", ";;", "---", "## ") before a comment's words.
_OPENER_RESIDUE = "#/*-;! \t"


@dataclass(frozen=True)
class CommentSyntax:
    line: tuple[str, ...] = ()  # openers of comments that run to the end of the line
    blocks: tuple[tuple[str, str], ...] = ()  # (opener, closer), possibly over many lines
    strings: bool = True  # quotes open strings (in markup an apostrophe is prose)


HASH = CommentSyntax(line=("#",))
C_LIKE = CommentSyntax(line=("//",), blocks=(("/*", "*/"),))
CSS = CommentSyntax(blocks=(("/*", "*/"),))
DASHES = CommentSyntax(line=("--",))
SQL = CommentSyntax(line=("--",), blocks=(("/*", "*/"),))
HASKELL = CommentSyntax(line=("--",), blocks=(("{-", "-}"),))
SEMICOLON = CommentSyntax(line=(";",))
INI = CommentSyntax(line=(";", "#"))
MARKUP = CommentSyntax(blocks=(("<!--", "-->"),), strings=False)
HCL = CommentSyntax(line=("#", "//"), blocks=(("/*", "*/"),))
PHP = CommentSyntax(line=("//", "#"), blocks=(("/*", "*/"),))

COMMENT_SYNTAX: dict[str, CommentSyntax] = {
    **dict.fromkeys(
        (".py", ".pyi", ".sh", ".bash", ".zsh", ".fish", ".yaml", ".yml", ".toml", ".rb",
         ".pl", ".r", ".ps1", ".nix", ".cmake", ".mk", ".dockerfile", ".conf", ".tcl"),
        HASH,
    ),
    **dict.fromkeys(
        (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".m", ".js", ".jsx", ".mjs",
         ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".rs", ".java", ".kt", ".kts",
         ".scala", ".swift", ".cs", ".dart", ".groovy", ".gradle", ".proto", ".zig",
         ".scss", ".less", ".sol", ".v", ".jsonc"),
        C_LIKE,
    ),
    ".css": CSS,
    **dict.fromkeys((".sql", ".psql"), SQL),
    ".lua": DASHES,
    **dict.fromkeys((".hs", ".lhs", ".elm"), HASKELL),
    **dict.fromkeys(
        (".lisp", ".lsp", ".el", ".clj", ".cljs", ".cljc", ".edn", ".scm", ".rkt", ".asm",
         ".s"),
        SEMICOLON,
    ),
    **dict.fromkeys((".ini", ".cfg", ".editorconfig", ".properties"), INI),
    **dict.fromkeys(
        (".html", ".htm", ".xhtml", ".xml", ".svg", ".md", ".markdown", ".vue", ".xsd",
         ".xsl", ".plist"),
        MARKUP,
    ),
    **dict.fromkeys((".tf", ".tfvars", ".hcl"), HCL),
    ".php": PHP,
}  # fmt: skip
# Files known by name rather than extension.
NAMED_SYNTAX: dict[str, CommentSyntax] = {
    **dict.fromkeys(
        ("makefile", "gnumakefile", "dockerfile", "containerfile", ".gitignore",
         ".dockerignore", ".dockhandignore", ".gitattributes", "procfile", "gemfile",
         "rakefile", "vagrantfile", "cmakelists.txt", "requirements.txt", ".env.example"),
        HASH,
    ),
    ".editorconfig": INI,
}  # fmt: skip


def comment_syntax(path: str, text: str) -> CommentSyntax | None:
    """The comment syntax of the file at `path` (by name, extension, or a `#!` line)."""
    name = path.rsplit("/", 1)[-1].lower()
    if name in NAMED_SYNTAX:
        return NAMED_SYNTAX[name]
    suffix = name[name.rfind(".") :] if "." in name.lstrip(".") else ""
    if suffix in COMMENT_SYNTAX:
        return COMMENT_SYNTAX[suffix]
    if name.startswith("dockerfile"):
        return HASH
    if text.startswith("#!"):
        return HASH  # an extension-less script: sh, python, ruby, perl... all use #
    return None


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


def commits(repo: Path, limit: int) -> list[dict[str, Any]]:
    """The last `limit` commits, newest first."""
    if limit <= 0 or not has_head(repo):
        return []
    raw = _text(git(repo, "log", f"-n{limit}", "--format=%H%x1f%s%x1f%an%x1f%aI%x1f%P%x1e"))
    result: list[dict[str, Any]] = []
    for record in raw.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 5:
            sha, message, author, timestamp, parents = fields
            commit: dict[str, Any] = {
                "sha": sha,
                "message": message,
                "author": author,
                "timestamp": timestamp,
            }
            if len(parents.split()) > 1:
                commit["merge"] = True  # counted, not listed, in the document
            result.append(commit)
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


def candidate_files(repo: Path, paths: PathFilter | None = None) -> Iterator[str]:
    """Tracked files, and untracked ones that are not ignored (git's own view of what
    `git add -A` would take), without vendored folders and likely secret files."""
    from tools.cli.secretscan import is_secret_file

    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for raw in sorted(set(listed.split(b"\0"))):
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
    syntax = comment_syntax(path, text)
    if syntax is None:
        return
    lines = text.splitlines()
    for number, comment in comments(lines, syntax):
        found = MARKER.match(comment.lstrip(_OPENER_RESIDUE))
        if not found:
            continue
        marker: dict[str, Any] = {
            "path": path,
            "line": number,
            "kind": found.group("kind"),
            "text": found.group("text").strip()[:MAX_TEXT],
        }
        context = _context_line(lines, number)
        if context:
            marker["context"] = context
        yield marker


def comments(lines: Sequence[str], syntax: CommentSyntax) -> Iterator[tuple[int, str]]:
    """(line number, text) of the first comment on each line that has one, block comments
    followed across lines (a continuation line's text is the whole line up to a closer)."""
    closer: str | None = None  # set while inside a block comment
    for number, line in enumerate(lines, start=1):
        first: str | None = None
        position = 0
        while position <= len(line):
            if closer is not None:
                end = line.find(closer, position)
                segment = line[position:] if end < 0 else line[position:end]
                first = segment if first is None else first
                if end < 0:
                    break
                position, closer = end + len(closer), None
                continue
            opened = _next_opener(line, position, syntax)
            if opened is None:
                break
            index, opener, block_closer = opened
            if block_closer is None:  # a line comment: the rest of the line
                first = line[index + len(opener) :] if first is None else first
                break
            position, closer = index + len(opener), block_closer
        if first is not None:
            yield number, first


def _next_opener(
    line: str, start: int, syntax: CommentSyntax
) -> tuple[int, str, str | None] | None:
    """The earliest comment opener at or after `start` that is not inside a string."""
    candidates = [(opener, None) for opener in syntax.line] + list(syntax.blocks)
    best: tuple[int, str, str | None] | None = None
    for opener, block_closer in candidates:
        index = line.find(opener, start)
        while index >= 0 and syntax.strings and _inside_string(line, index):
            index = line.find(opener, index + 1)
        if index >= 0 and (best is None or index < best[0]):
            best = (index, opener, block_closer)
    return best


def _inside_string(line: str, position: int) -> bool:
    """A heuristic: an odd number of quotes before the opener means it sits in a string."""
    before = line[:position]
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def _context_line(lines: list[str], number: int) -> str | None:
    """One line of context: the next non-blank line (what the comment is about)."""
    for candidate in lines[number : number + 3]:
        if any(ch.isalnum() for ch in candidate):  # not a blank line or a bare "*/", "-->"
            return candidate.strip()[:MAX_TEXT]
    return None


def markers(
    repo: Path, paths: PathFilter | None = None, files: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for path in candidate_files(repo, paths) if files is None else files:
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
    constraints: Sequence[str] = (),
    output: str | None = None,
    max_commits: int = 50,
    excludes: Sequence[str] = (),
    describe: bool = True,
) -> dict[str, Any]:
    """The `POST /hydrate` body for the repository containing `repo_dir` (not yet
    scanned for secrets: see tools/cli/secretscan.py)."""
    repo = repo_root(repo_dir)
    paths = PathFilter(repo, excludes)
    thread: dict[str, str] = {"id": thread_id or slugify(repo.name)}
    given = [c for c in constraints if c.strip()]
    named = (
        ("persona", persona),
        ("goal", goal),
        ("focus", focus),
        ("output", output),
        ("constraints", "; ".join(given)),
    )
    for name, value in named:
        if value:
            thread[name] = value
    files = list(candidate_files(repo, paths))
    body: dict[str, Any] = {
        "thread": thread,
        "repo": repo_info(repo),
        "commits": commits(repo, max_commits),
        "changes": [c for c in changes(repo) if not paths.excluded(c["path"])],
        "markers": markers(repo, paths, files),
    }
    if describe:
        from tools.cli import project

        described = project.describe(repo, files)
        if described:
            body["project"] = described  # what the repository is: the Project section
    if given:
        # The thread's constraints feed the front matter; the list feeds the document's
        # "Decisions & Constraints" section (the contract has both).
        body["constraints"] = given
    return body
