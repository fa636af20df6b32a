"""`dockhand queues create|list|show|delete`: named queues, each with its own copy of
every matching event (the tenant inbox is the queue `inbox`).  Consume one with
`dockhand inbox consume --queue NAME --exec CMD`.

Talks to `DOCKHAND_URL` with `DOCKHAND_API_KEY`, or to the running `make run` of this directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from tools.cli.snapshot import CliError, request


def register(subparsers: Any) -> None:
    queues = subparsers.add_parser(
        "queues", help="named queues: each consumer its own copy of every event"
    )
    commands = queues.add_subparsers(dest="queues_command", required=True)
    create = commands.add_parser("create", help="add a named queue (POST /queues)")
    create.add_argument("name", help="a slug; `inbox` is the tenant inbox")
    create.add_argument(
        "--event-type",
        dest="event_types",
        action="append",
        metavar="TYPE",
        help="only this type, or `prefix.*` (repeatable; default: every event)",
    )
    create.add_argument("--description")
    create.set_defaults(func=_create)
    listing = commands.add_parser("list", help="the tenant's queues, inbox first")
    listing.set_defaults(func=_list)
    show = commands.add_parser("show", help="one queue with its backlog")
    show.add_argument("name")
    show.set_defaults(func=_show)
    delete = commands.add_parser("delete", help="delete a named queue and its entries")
    delete.add_argument("name")
    delete.set_defaults(func=_delete)


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _path(name: str) -> str:
    return "/queues/" + urllib.parse.quote(name, safe="")


def _call(method: str, path: str, body: Any = None) -> Any:
    _, _, payload = request(method, path, body)
    return json.loads(payload) if payload else None


def _run(action: Any) -> int:
    try:
        action()
    except CliError as error:
        print(f"dockhand: {error}", file=sys.stderr)
        return 1
    return 0


def _create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.event_types:
        body["event_types"] = args.event_types
    if args.description is not None:
        body["description"] = args.description
    return _run(lambda: _print(_call("POST", "/queues", body)))


def _list(args: argparse.Namespace) -> int:
    def every_page() -> None:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            query = "?limit=200" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            page = _call("GET", "/queues" + query)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        _print(items)

    return _run(every_page)


def _show(args: argparse.Namespace) -> int:
    return _run(lambda: _print(_call("GET", _path(args.name))))


def _delete(args: argparse.Namespace) -> int:
    def delete() -> None:
        _call("DELETE", _path(args.name))
        print(f"deleted queue {args.name}", file=sys.stderr)

    return _run(delete)
