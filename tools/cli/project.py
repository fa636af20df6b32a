"""What a repository is, for the document's Project section (`dockhand snapshot`).

- summary: the first paragraph of prose in the README at the root (README.md, .rst,
  .txt or bare), skipping front matter (`---`/`+++` blocks), headings (ATX, setext and
  reStructuredText underlines), HTML (tags, comments, `<p align>` blocks), badges
  (image links), code fences, tables, lists, quotes, link definitions and rST
  directives; links keep their text; a paragraph ending in ":" keeps the list it
  introduces; a tagline (fewer than 6 words) gives way to the next paragraph.  At
  most SUMMARY_CHARS characters, cut at a sentence when it can be.
- layout: the top-level entries git knows (directories with a trailing `/`), no dotfiles.
- languages: files by language (by extension or name), most first.
- test_command: the project's own entry point first: a Makefile `test` target, then
  package.json `scripts.test` (with the lock file's package manager), then pytest
  (`[tool.pytest...]` in pyproject.toml, pytest.ini, `[tool:pytest]` in setup.cfg,
  `[pytest]` in tox.ini), then `cargo test` and `go test ./...`.
The values are sent as they are found; secretscan scrubs them like every collected
string, the server redacts them again and the renderer escapes them.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SUMMARY_CHARS = 600
LIST_ITEM_CHARS = 120
MIN_WORDS = 6
LAYOUT_MAX = 40
LANGUAGES_MAX = 8
README_NAMES = ("readme.md", "readme.markdown", "readme.rst", "readme.txt", "readme")
_NPM_PLACEHOLDER = 'echo "Error: no test specified"'

LANGUAGES: dict[str, str] = {
    **dict.fromkeys((".py", ".pyi"), "Python"),
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), "TypeScript"),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), "JavaScript"),
    ".go": "Go", ".rs": "Rust", ".java": "Java", ".kt": "Kotlin", ".kts": "Kotlin",
    ".rb": "Ruby", ".php": "PHP", ".cs": "C#", ".swift": "Swift", ".scala": "Scala",
    **dict.fromkeys((".c", ".h"), "C"),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".hpp", ".hh"), "C++"),
    **dict.fromkeys((".sh", ".bash", ".zsh"), "Shell"),
    **dict.fromkeys((".tf", ".tfvars", ".hcl"), "HCL"),
    **dict.fromkeys((".md", ".markdown", ".rst"), "Markdown"),
    **dict.fromkeys((".html", ".htm"), "HTML"),
    **dict.fromkeys((".css", ".scss", ".less"), "CSS"),
    ".vue": "Vue", ".svelte": "Svelte", ".sql": "SQL", ".lua": "Lua", ".dart": "Dart",
    ".ex": "Elixir", ".exs": "Elixir", ".erl": "Erlang", ".hs": "Haskell", ".ml": "OCaml",
    ".clj": "Clojure", ".r": "R", ".jl": "Julia", ".zig": "Zig", ".nix": "Nix",
}  # fmt: skip
NAMED_LANGUAGES = {"makefile": "Makefile", "dockerfile": "Dockerfile"}

_BADGE = re.compile(r"\[?!\[[^\]]*\]\([^)]*\)\]?(?:\([^)]*\))?")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>\n]*>")
_UNDERLINE = re.compile(r"^\s*([=\-~^*+#`'\"._:])\1{2,}\s*$")
_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def find_readme(repo: Path, files: Iterable[str]) -> Path | None:
    top = {f.lower(): f for f in files if "/" not in f}
    for name in README_NAMES:
        if name in top:
            return repo / top[name]
    return None


def _without_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() in ("---", "+++"):
        fence = lines[0].strip()
        for index in range(1, len(lines)):
            if lines[index].strip() in (fence, "..."):
                return lines[index + 1 :]
        return []  # never closed: nothing after it is prose
    return lines


def _is_prose(line: str, following: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped[0] in "#>|<" or stripped.startswith((".. ", ":")):
        return False
    if _UNDERLINE.match(stripped) or _UNDERLINE.match(following.strip() or "x"):
        return False  # an underline, or the title it underlines
    if _LIST.match(line) or _LINK_DEFINITION.match(line):
        return False
    return bool(_BADGE.sub("", stripped).strip())


def readme_summary(text: str) -> str:
    """The first paragraph of prose (see the module docstring), one line; a tagline of
    fewer than MIN_WORDS words gives way to the paragraph after it."""
    lines = _without_front_matter(text.replace("\r\n", "\n").split("\n"))
    first = ""
    start = 0
    while start < len(lines):
        paragraph, start = _next_paragraph(lines, start)
        summary = _clip(_inline(" ".join(paragraph)))
        if len(summary.split()) >= MIN_WORDS:
            return summary
        first = first or summary
    return first


def _next_paragraph(lines: list[str], start: int) -> tuple[list[str], int]:
    """(the next paragraph of prose from `start`, where the search goes on)."""
    paragraph: list[str] = []
    fence: str | None = None
    in_comment = False
    for index in range(start, len(lines)):
        line = lines[index]
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped.startswith(fence) else fence
            continue
        if in_comment:
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith(("```", "~~~", "<!--")) and paragraph:
            return paragraph, index
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_prose(line, following):
            paragraph.append(stripped)
        elif paragraph:
            rest = [candidate for candidate in lines[index:] if candidate.strip()]
            if paragraph[-1].endswith(":") and rest and _LIST.match(rest[0]):
                paragraph.append(_list_after(lines[index:]))  # "It does four things:"
            return paragraph, index
    return paragraph, len(lines)


def _list_after(lines: list[str]) -> str:
    """The list a paragraph introduces, as one line ("a; b; c.")."""
    items: list[str] = []
    for line in lines:
        if not line.strip() and not items:
            continue
        if _LIST.match(line):
            items.append(_LIST.sub("", line, count=1).strip())
        elif line.strip() and line.startswith((" ", "\t")) and items:
            items[-1] += " " + line.strip()  # an item's continuation line
        else:
            break
    return "; ".join(_first_sentence(item).rstrip(".;") for item in items) + "."


def _first_sentence(text: str) -> str:
    found = _SENTENCE_END.search(text)
    text = text[: found.end()] if found else text
    return text if len(text) <= LIST_ITEM_CHARS else text[: LIST_ITEM_CHARS - 1] + "…"


def _inline(text: str) -> str:
    text = _BADGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")  # emphasis, code marks
    return " ".join(_TAG.sub("", text).split())


def _clip(text: str) -> str:
    if len(text) <= SUMMARY_CHARS:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text[:SUMMARY_CHARS])]
    if ends and ends[-1] > SUMMARY_CHARS // 3:
        return text[: ends[-1]]
    return text[: SUMMARY_CHARS - 1].rstrip() + "…"


def layout(files: Iterable[str]) -> list[str]:
    dirs: set[str] = set()
    tops: set[str] = set()
    for path in files:
        head, _, rest = path.partition("/")
        if head.startswith("."):
            continue
        (dirs if rest else tops).add(head + ("/" if rest else ""))
    return (sorted(dirs) + sorted(tops))[:LAYOUT_MAX]


def languages(files: Iterable[str]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for path in files:
        name = path.rsplit("/", 1)[-1].lower()
        suffix = name[name.rfind(".") :] if "." in name.lstrip(".") else ""
        language = NAMED_LANGUAGES.get(name) or LANGUAGES.get(suffix)
        if language:
            counts[language] += 1
    return [{"name": n, "files": c} for n, c in counts.most_common(LANGUAGES_MAX)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def test_command(repo: Path) -> str:
    for name in ("Makefile", "makefile", "GNUmakefile"):
        if re.search(r"^test\s*:(?!=)", _read(repo / name), flags=re.MULTILINE):
            return "make test"
    npm = _npm_test(repo)
    if npm:
        return npm
    if _uses_pytest(repo):
        return "pytest"
    if (repo / "Cargo.toml").is_file():
        return "cargo test"
    if (repo / "go.mod").is_file():
        return "go test ./..."
    return ""


def _npm_test(repo: Path) -> str:
    try:
        package = json.loads(_read(repo / "package.json") or "{}")
    except ValueError:
        return ""
    scripts = package.get("scripts") if isinstance(package, dict) else None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(script, str) or not script.strip() or _NPM_PLACEHOLDER in script:
        return ""
    for lock, tool in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun")):
        if (repo / lock).is_file():
            return f"{tool} test" if tool != "bun" else "bun run test"
    return "npm test"


def _uses_pytest(repo: Path) -> bool:
    try:
        pyproject = tomllib.loads(_read(repo / "pyproject.toml"))
    except tomllib.TOMLDecodeError:
        pyproject = {}
    if "pytest" in (pyproject.get("tool") or {}):
        return True
    if (repo / "pytest.ini").is_file():
        return True
    return "[tool:pytest]" in _read(repo / "setup.cfg") or "[pytest]" in _read(repo / "tox.ini")


def describe(repo: Path, files: list[str]) -> dict[str, Any]:
    """The `project` of the hydrate body; fields that found nothing are left out."""
    readme = find_readme(repo, files)
    found: dict[str, Any] = {
        "summary": readme_summary(_read(readme)) if readme else "",
        "layout": layout(files),
        "languages": languages(files),
        "test_command": test_command(repo),
    }
    return {name: value for name, value in found.items() if value}
