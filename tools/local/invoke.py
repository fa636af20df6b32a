"""`make invoke FN=<function> EVENT=<file.json>`: run one handler once, like
`sam local invoke <fn> -e <file>`, without Docker.

The response is printed as JSON on stdout; the function's logs go to stderr.
If `make run` is up, the handler uses its emulator; otherwise an in-process
moto (`mock_aws`) with the Terraform tables and bucket, which is gone when the
command ends.  `$DOCKHAND_API_KEY` in the event's headers becomes
`DOCKHAND_API_KEY` from the environment, else the running gateway's bootstrap
key, else a fresh creator key of tenant `local` made in the in-process mock.
`$TODAY` anywhere in the event becomes today's UTC date (YYYY-MM-DD), so a sample
such as tests/events/stats_get.json asks for a day that has figures.

Exit status: 0 when the function returned (whatever HTTP status it chose),
1 when it raised, 2 for a usage error (unknown function, unreadable event).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tools.local.lambdas import (
    FakeLambdaContext,
    FunctionLoader,
    FunctionUnavailable,
    function_timeout_ms,
)

API_KEY_PLACEHOLDER = "$DOCKHAND_API_KEY"
TODAY_PLACEHOLDER = "$TODAY"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "tests" / "events"


class UsageError(Exception):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make invoke", description="Run one dockhand function once on one event."
    )
    parser.add_argument("function", help="function name from infra/functions.tf")
    parser.add_argument(
        "event",
        nargs="?",
        help="API Gateway v2 or EventBridge event JSON file ('-' for stdin); "
        "scheduled functions default to a fresh Scheduled Event",
    )
    return parser.parse_args(argv)


def check_function(name: str) -> None:
    from tools.local import infra_model

    known = sorted(infra_model.functions())
    if name not in known:
        raise UsageError(f"unknown function {name!r}; functions are: {', '.join(known)}")


def load_event(function: str, path: str | None) -> dict[str, Any]:
    from tools.local import infra_model
    from tools.local.scheduler import scheduled_event

    if path is None:
        if infra_model.functions()[function].schedule:
            return scheduled_event(function, datetime.now(UTC))
        samples = sorted(p.name for p in EVENTS_DIR.glob(f"{function}_*.json"))
        hint = f" (samples: {', '.join(f'tests/events/{s}' for s in samples)})" if samples else ""
        raise UsageError(f"{function} is an HTTP function: give an event file{hint}")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        event = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise UsageError(f"{path} must hold a JSON object")
    return event


def needs_api_key(event: dict[str, Any]) -> bool:
    return any(API_KEY_PLACEHOLDER in str(v) for v in (event.get("headers") or {}).values())


def substitute_api_key(event: dict[str, Any], key: str) -> None:
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if isinstance(value, str):
            headers[name] = value.replace(API_KEY_PLACEHOLDER, key)


def fill_dates(value: Any, today: str) -> Any:
    """`value` with every `$TODAY` in its strings (keys and values) replaced by `today`."""
    if isinstance(value, str):
        return value.replace(TODAY_PLACEHOLDER, today)
    if isinstance(value, list):
        return [fill_dates(item, today) for item in value]
    if isinstance(value, dict):
        return {fill_dates(k, today): fill_dates(v, today) for k, v in value.items()}
    return value


def _prepare_in_process_env() -> None:
    """Fake credentials and a throwaway master key for an in-process mock."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - moto's fake secret
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    os.environ.setdefault("DOCKHAND_TABLE_PREFIX", "dockhand-local")
    os.environ.setdefault("DOCKHAND_MASTER_KEY", secrets.token_urlsafe(48))


@contextlib.contextmanager
def backend() -> Iterator[tuple[str, str | None]]:
    """(description, API key or None) with this process pointed at an AWS."""
    from tools.cli import localstate

    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    state = localstate.apply_state()
    if state is not None:
        yield f"the running gateway's emulator ({state.get('api_url')})", state.get("bootstrap_key")
        return
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("DOCKHAND_TARGET") == "aws":
        yield os.environ.get("AWS_ENDPOINT_URL") or "AWS", None
        return
    _prepare_in_process_env()
    from moto import mock_aws

    from tools.local import infra_model

    with mock_aws():
        infra_model.ensure_configured_resources()
        yield "an in-process moto (mock_aws; discarded on exit)", None


def invoke(function: str, event: dict[str, Any], out: TextIO) -> int:
    with backend() as (where, gateway_key):
        print(f"invoke: {function} on {where}", file=sys.stderr)
        if needs_api_key(event):
            key = os.environ.get("DOCKHAND_API_KEY") or gateway_key
            if not key:
                from common.access import auth

                key = str(auth.create_key("local", "creator", "invoke")["api_key"])
            substitute_api_key(event, key)
        handler = FunctionLoader().handler(function)
        context = FakeLambdaContext(f"dockhand-{function}", function_timeout_ms(function))
        try:
            result = handler(event, context)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return 1
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str), file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    # Lambda writes logs to stdout; here stdout is for the response only, so
    # everything else printed while the function runs goes to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        args = parse_args(argv)
        check_function(args.function)
        event = fill_dates(
            load_event(args.function, args.event), datetime.now(UTC).date().isoformat()
        )
        return invoke(args.function, event, out)
    except (UsageError, FunctionUnavailable) as exc:
        print(f"invoke: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.stdout = out


if __name__ == "__main__":
    sys.exit(main())
