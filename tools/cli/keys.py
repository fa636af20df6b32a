"""`dockhand keys create|list|revoke`: manage API keys directly in the keys table."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create a key (the full key is shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--role", required=True, choices=("viewer", "creator"))
    create.add_argument("--label", default="")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=_create)

    listing = actions.add_parser("list", help="list a tenant's keys (never their secrets)")
    listing.add_argument("--tenant", required=True)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    revoke = actions.add_parser("revoke", help="revoke a key (effective within 60 s)")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_revoke)


def _prepare() -> bool:
    """Point at the running `make run`'s emulator; False when none was found."""
    from tools.cli.localstate import apply_state

    return apply_state() is not None


def _fail(message: str) -> int:
    print(f"dockhand: {message}", file=sys.stderr)
    return 1


def _run(action: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from common.runtime.errors import ApiError

    told = bool(os.environ.get("AWS_ENDPOINT_URL")) or os.environ.get("DOCKHAND_TARGET") == "aws"
    found = _prepare() or told
    try:
        return action()
    except ApiError as exc:
        details = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
        raise SystemExit(_fail(details or exc.message)) from None  # the field says what is wrong
    except (BotoCoreError, ClientError) as exc:
        from tools.cli.localstate import missing_run_hint

        hint = "is `make run` up?" if found else missing_run_hint()
        raise SystemExit(_fail(f"cannot reach the keys table ({exc}); {hint}")) from None


def _create(args: argparse.Namespace) -> int:
    from common.access import auth

    record = _run(lambda: auth.create_key(args.tenant, args.role, args.label))
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(record["api_key"])
        print(
            f"key_id={record['key_id']} tenant={record['tenant']} role={record['role']} "
            "(store the key now: it is not shown again)",
            file=sys.stderr,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    from common.access import auth

    records = _run(lambda: auth.list_keys(args.tenant))
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    print(f"{'KEY ID':<26} {'ROLE':<8} {'CREATED':<25} {'REVOKED':<25} LABEL")
    for r in records:
        print(
            f"{r['key_id']:<26} {r['role']:<8} {r['created_at']:<25} "
            f"{r.get('revoked_at') or '-':<25} {r.get('label') or ''}"
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from common.access import auth

    record = _run(lambda: auth.revoke_key(args.key_id))
    print(f"revoked {record['key_id']} (tenant {record['tenant']}) at {record['revoked_at']}")
    return 0
