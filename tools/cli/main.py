"""The `dockhand` command line: keys, snapshots, stats, agents, inbox consumers.

Each command family lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "tools.cli.keys",
    "tools.cli.snapshot",
    "tools.cli.ops",
    "tools.cli.inbox",
    "tools.cli.agent",
    "tools.cli.queues",
    "tools.cli.listen",
    "tools.cli.mcp",
    "tools.cli.hooks",
)

# What `dockhand --help` tells users (the module docstring above is for contributors).
DESCRIPTION = (
    "dockhand from your shell: API keys, project snapshots, daily figures, agents, and "
    "the hooks that give an assistant its context."
)
EPILOG = """\
where it connects:
  DOCKHAND_URL and DOCKHAND_API_KEY name a dockhand API and a key. Without them the
  commands use the `make run` of this directory (.dockhand/local-<port>.json) and say
  which; with several runs up, --port N (or DOCKHAND_URL) chooses.
  `keys` writes to the keys table directly: the running `make run`'s emulator, or
  AWS with DOCKHAND_TARGET=aws and your credentials.

`dockhand <command> --help` shows each command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockhand",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="use the `make run` on port N when several are up",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from tools.cli import localstate

    args = build_parser().parse_args(argv)
    localstate.selected_port = args.port
    try:
        result: int = args.func(args)
    except localstate.StateError as exc:
        print(f"dockhand: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
