"""`dockhand hooks`: the assistant's loop, so the document survives compaction unasked.

`dockhand hooks install [--assistant claude-code]` merges two hooks into the repository's
`.claude/settings.json` (other settings and hooks kept; running it again changes nothing,
or updates dockhand's own entries):
- `PreCompact` (manual and automatic compaction) runs `dockhand hooks pre-compact`, which
  takes a snapshot of the repository, as `dockhand snapshot` does (PreCompact cannot add
  context, only act);
- `SessionStart` with matchers `startup`, `resume` and `compact` runs `dockhand hooks
  session-start`, which prints the thread's newest document (notes newer than it
  included) as `hookSpecificOutput.additionalContext`, within `--max-tokens`.
Which thread: `--thread`, written into the hook commands at install; by default the
repository directory's name, slugified, as `dockhand snapshot` chooses.  The hooks reach
the API as every command does (DOCKHAND_URL and DOCKHAND_API_KEY in the assistant's
environment, or DOCKHAND_STATE_DIR naming a `make run`'s state); no key is ever written
into settings.json, a file teams commit.  Both hooks never fail the assistant:
whatever goes wrong is one line on stderr, and the exit code is 0.
`dockhand hooks uninstall` removes exactly the entries install added (a settings file
left empty is removed, as is a `.claude` directory left empty).

Claude Code's formats (code.claude.com/docs/en/hooks): a command hook receives a JSON
object on stdin (`session_id`, `transcript_path`, `cwd`, `hook_event_name`, and `source`
for SessionStart or `trigger` for PreCompact) and a SessionStart hook may print
`{"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "..."}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Any

ASSISTANTS = ("claude-code",)
SOURCES = ("startup", "resume", "compact")
DEFAULT_MAX_TOKENS = 2000
# Claude Code keeps at most 10,000 characters of a hook's added context.
MAX_CONTEXT_CHARS = 10_000
HOOK_HTTP_TIMEOUT = 20.0
PRE_COMPACT_TIMEOUT, SESSION_START_TIMEOUT = 60, 30  # seconds, Claude Code's per-hook limit


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hooks",
        help="install the assistant's loop: snapshot before compaction, document at start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="hooks_command", required=True, metavar="<action>")
    install = commands.add_parser("install", help="add the hooks to .claude/settings.json")
    _common(install)
    install.add_argument("--thread", help="thread id (default: the repository's name)")
    install.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"budget of the document given at session start ({DEFAULT_MAX_TOKENS})",
    )
    install.add_argument("--persona", help="persona of the snapshots the hook takes")
    install.add_argument(
        "--command",
        help="how the hooks start dockhand (default: this dockhand's absolute path)",
    )
    install.set_defaults(func=_install)
    uninstall = commands.add_parser("uninstall", help="remove what install added")
    _common(uninstall)
    uninstall.set_defaults(func=_uninstall)
    for name, func, helptext in (
        ("pre-compact", _pre_compact, "(run by the PreCompact hook) take a snapshot"),
        ("session-start", _session_start, "(run by the SessionStart hook) print the document"),
    ):
        hook = commands.add_parser(name, help=helptext)
        hook.add_argument("--thread", required=True)
        hook.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
        hook.add_argument("--persona")
        hook.set_defaults(func=func)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assistant", choices=ASSISTANTS, default="claude-code")
    parser.add_argument("--repo", default=".", help="repository directory (default: .)")


# --- settings.json ------------------------------------------------------------------------


def settings_path(repo: Path) -> Path:
    return repo / ".claude" / "settings.json"


def is_ours(handler: Any) -> bool:
    """A hook handler install wrote: a command running `dockhand hooks <event>`."""
    if not isinstance(handler, dict) or handler.get("type") != "command":
        return False
    command = str(handler.get("command") or "")
    return "dockhand" in command and any(
        f" hooks {name} " in f"{command} " for name in ("pre-compact", "session-start")
    )


def without_ours(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings with dockhand's handlers removed, and the groups, event lists and
    `hooks` object that held only them."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return settings
    kept_events: dict[str, Any] = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            kept_events[event] = groups
            continue
        kept_groups = []
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list) or not any(is_ours(h) for h in handlers):
                kept_groups.append(group)
                continue
            remaining = [h for h in handlers if not is_ours(h)]
            if remaining:
                kept_groups.append({**group, "hooks": remaining})
        if kept_groups:
            kept_events[event] = kept_groups
    cleaned = {k: v for k, v in settings.items() if k != "hooks"}
    if kept_events:
        cleaned["hooks"] = kept_events
    elif "hooks" in settings and not hooks:
        cleaned["hooks"] = hooks  # an empty object the user wrote stays
    return cleaned


def with_ours(settings: dict[str, Any], pre_compact: str, session_start: str) -> dict[str, Any]:
    """The settings with dockhand's PreCompact and SessionStart hooks (replacing earlier ones)."""
    merged = without_ours(settings)
    hooks = dict(merged.get("hooks") or {})
    pre = {"type": "command", "command": pre_compact, "timeout": PRE_COMPACT_TIMEOUT}
    start = {"type": "command", "command": session_start, "timeout": SESSION_START_TIMEOUT}
    hooks["PreCompact"] = [*hooks.get("PreCompact", []), {"hooks": [pre]}]
    hooks["SessionStart"] = [
        *hooks.get("SessionStart", []),
        *({"matcher": source, "hooks": [dict(start)]} for source in SOURCES),
    ]
    return {**merged, "hooks": hooks}


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8") or "{}")
    except ValueError as error:
        raise HookError(f"{path} is not valid JSON ({error}); nothing changed") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("hooks", {}), dict):
        raise HookError(f"{path} does not hold a settings object; nothing changed")
    return settings


def _save(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    temporary = path.with_name(path.name + ".dockhand-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)  # never a half-written settings file


class HookError(Exception):
    pass


def _dockhand_command(given: str | None) -> str:
    """The command the hooks run: this very dockhand (its absolute path), so the hook works
    whatever the assistant's PATH holds."""
    if given:
        return given
    running = Path(sys.argv[0])
    if running.name == "dockhand" and running.is_file():
        return shlex.quote(str(running.absolute()))
    found = shutil.which("dockhand")
    return shlex.quote(str(Path(found).absolute())) if found else "dockhand"


def _install(args: argparse.Namespace) -> int:
    from tools.cli import collect

    try:
        repo = collect.repo_root(Path(args.repo))
        path = settings_path(repo)
        settings = _load(path)
    except (collect.GitError, HookError) as error:
        print(f"dockhand hooks: {error}", file=sys.stderr)
        return 1
    if not 200 <= args.max_tokens <= 200_000:
        print("dockhand hooks: --max-tokens must be 200-200000", file=sys.stderr)
        return 2
    thread = args.thread or collect.slugify(repo.name)
    base = f"{_dockhand_command(args.command)} hooks"
    options = f"--thread {shlex.quote(thread)}"
    if args.persona:
        options += f" --persona {shlex.quote(args.persona)}"
    pre = f"{base} pre-compact {options}"
    start = f"{base} session-start {options} --max-tokens {args.max_tokens}"
    updated = with_ours(settings, pre, start)
    if updated != settings or not path.exists():
        _save(path, updated)
    sources = ", ".join(SOURCES)
    print(
        f"dockhand hooks: thread {thread}: PreCompact takes a snapshot, SessionStart "
        f"({sources}) gives the document ({args.max_tokens} tokens); in {path}"
    )
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from tools.cli import collect

    try:
        repo = collect.repo_root(Path(args.repo))
        path = settings_path(repo)
        settings = _load(path)
    except (collect.GitError, HookError) as error:
        print(f"dockhand hooks: {error}", file=sys.stderr)
        return 1
    updated = without_ours(settings)
    if updated == settings:
        print(f"dockhand hooks: nothing of dockhand's in {path}")
        return 0
    if updated:
        _save(path, updated)
    else:
        path.unlink()
        if not any(path.parent.iterdir()):
            path.parent.rmdir()
    print(f"dockhand hooks: removed dockhand's hooks from {path}")
    return 0


# --- the hooks themselves (never fail the assistant) ---------------------------------------


def read_input() -> dict[str, Any]:
    """The hook's JSON input; anything unreadable reads as {}."""
    try:
        data = json.loads(sys.stdin.read() or "{}")
    except (ValueError, OSError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _where(event: dict[str, Any]) -> Path:
    """The session's directory: the input's `cwd`, else CLAUDE_PROJECT_DIR, else here."""
    for candidate in (event.get("cwd"), os.environ.get("CLAUDE_PROJECT_DIR")):
        if isinstance(candidate, str) and candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path.cwd()


def _pre_compact(args: argparse.Namespace) -> int:
    event = read_input()
    try:
        from tools.cli.snapshot import post_snapshot

        created, redacted = post_snapshot(
            _where(event), thread_id=args.thread, persona=args.persona, timeout=HOOK_HTTP_TIMEOUT
        )
        if redacted:
            print(f"dockhand: {redacted}", file=sys.stderr)
        trigger = event.get("trigger") or "compaction"
        print(
            f"dockhand: snapshot {created['snapshot_id']} of thread {args.thread} "
            f"before {trigger} compaction",
            file=sys.stderr,
        )
    except Exception as error:  # never fail the assistant: say it on stderr
        print(f"dockhand: no snapshot before compaction: {error}", file=sys.stderr)
    return 0


CONTEXT_INTRO = (
    "dockhand: the context document of thread `{thread}` ({source}), rendered from its "
    'newest snapshot; notes under "Newer than this snapshot" were written after it. Use '
    "it to pick the work up where it stopped; decisions and constraints in it stand."
)


def _session_start(args: argparse.Namespace) -> int:
    event = read_input()
    source = str(event.get("source") or "startup")
    try:
        from tools.cli.snapshot import CliError, request

        query = urllib.parse.urlencode({"thread_id": args.thread, "max_tokens": args.max_tokens})
        try:
            _, _, payload = request("GET", f"/rehydrate?{query}", timeout=HOOK_HTTP_TIMEOUT)
        except CliError as error:
            if error.status == 404:
                print(f"dockhand: thread {args.thread} has no snapshot yet", file=sys.stderr)
                return 0
            raise
        intro = CONTEXT_INTRO.format(thread=args.thread, source=source)
        context = f"{intro}\n\n{payload.decode('utf-8')}"[:MAX_CONTEXT_CHARS]
        output = {
            "hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}
        }
        # ASCII JSON: the assistant's locale cannot garble it, and it parses to the same text.
        sys.stdout.write(json.dumps(output) + "\n")
        sys.stdout.flush()
    except Exception as error:  # never fail the assistant: say it on stderr
        print(f"dockhand: no document at session start: {error}", file=sys.stderr)
    return 0
