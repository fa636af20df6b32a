"""`make run`: API Gateway, Lambda and AWS on one laptop, in one process.

- AWS: an embedded moto server (in memory) unless `AWS_ENDPOINT_URL` points at
  another emulator (LocalStack, DynamoDB Local) or `DOCKHAND_TARGET=aws`
  (`tools.local.backend`).  Tables and the bucket come from the Terraform files
  (`tools.local.infra_model`).
- API Gateway: werkzeug's threaded HTTP server with API Gateway's edge rules
  (`tools.local.wsgi`: envelopes for malformed requests, timeouts, backlog 1024);
  each request is matched against the Terraform routes, turned into the HTTP API
  payload 2.0 event and handed to the function's handler in-process with a
  Lambda-like context (`tools.local.lambdas`).
- The embedded emulator runs one DynamoDB request at a time, with atomic
  transactions (`tools.local.emulator`): moto's are not thread-safe, DynamoDB's are.
- EventBridge: a scheduler thread fires the scheduled functions on their
  Terraform schedules (`DOCKHAND_SCHEDULES=off` disables it).
- A bootstrap `creator` key for tenant `local`, and `.dockhand/local.json` so
  the `dockhand` CLI reaches this emulator while it runs.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tools.local.backend import (
    LOCAL_TENANT,
    Backend,
    create_bootstrap_key,
    prepare_resources,
    reserve_own_ports,
    start_backend,
)
from tools.local.lambdas import (
    FakeLambdaContext,
    FunctionLoader,
    FunctionUnavailable,
    function_timeout_ms,
)

# Not under "dockhand": that is the powertools logger's name, and its JSON handler on
# stdout is for function logs.  Gateway lines go to stderr as plain text.
log = logging.getLogger("local.gateway")


# --------------------------------------------------------------------------- HTTP


def error_result(error: Exception, event: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's error envelope for an error the gateway itself answers."""
    from common.runtime.errors import ApiError, InternalError
    from common.runtime.http import choose_request_id, error_response

    api_error = error if isinstance(error, ApiError) else InternalError()
    request_id = choose_request_id(event)
    response = error_response(api_error, request_id)
    response["headers"]["X-Request-ID"] = request_id
    return response


def normalise_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from a Lambda result, as API Gateway payload 2.0 reads it."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway infers a 200 JSON response from anything else.
        body = json.dumps(result, ensure_ascii=False, allow_nan=False).encode()
        return 200, [("Content-Type", "application/json")], body
    status = int(result["statusCode"])
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = str(raw).encode("utf-8")
    return status, headers, body


@dataclass
class Gateway:
    """What the request handler needs: function loading and invocation."""

    loader: FunctionLoader = field(default_factory=FunctionLoader)

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        handler = self.loader.handler(function)
        context = FakeLambdaContext(f"dockhand-{function}", function_timeout_ms(function))
        return handler(event, context)

    def handle(self, event: dict[str, Any], function: str | None) -> dict[str, Any] | Any:
        """Route → function → result, with the gateway's own errors as envelopes."""
        from common.runtime.errors import NotFound, ServiceUnavailable

        if function is None:
            return error_result(NotFound("No such route."), event)
        try:
            return self.invoke(function, event)
        except FunctionUnavailable as exc:
            log.warning("function %s is not available: %s", function, exc)
            message = f"Function {function!r} is not available in this local build yet."
            return error_result(ServiceUnavailable(retry_after=5, message=message), event)
        except Exception:  # a crashed function: API Gateway answers 500, the log has why
            log.error("function %s raised:\n%s", function, traceback.format_exc())
            return error_result(RuntimeError(), event)


def read_query(raw_query: str) -> dict[str, str]:
    """API Gateway joins repeated query parameters with commas."""
    parsed = parse_qs(raw_query, keep_blank_values=True)
    return {name: ",".join(values) for name, values in parsed.items()}


def read_headers(pairs: Iterator[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Lower-cased headers (repeats comma-joined) and the cookies, as payload 2.0 has them."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        lower = name.lower()
        if lower == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    return headers, cookies


class GatewayApp:
    """The WSGI application behind werkzeug (tools.local.wsgi): an HTTP request →
    route → payload 2.0 event → function → response, as API Gateway does it."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        from tools.local import apigw, infra_model, wsgi

        started = time.perf_counter()
        method = str(environ["REQUEST_METHOD"]).upper()
        raw_path, _, raw_query = _request_target(environ).partition("?")
        path = unquote(urlsplit(raw_path).path or "/")
        headers, cookies = read_headers(iter(environ.get("dockhand.header_pairs", [])))
        matched = apigw.match_route(method, path)
        route_key, params = matched if matched else ("$default", {})
        function = infra_model.route_table()[route_key] if matched else None
        edge_error: Exception | None = None
        try:
            body = wsgi.read_body(environ)
        except wsgi.ClientGone:
            raise  # werkzeug logs it as a dropped connection: no answer, no traceback
        except wsgi.EdgeError as exc:
            body, edge_error = b"", exc
        event = apigw.build_event(
            method,
            path,
            route_key=route_key,
            path_params={k: unquote(v) for k, v in params.items()},
            query=read_query(raw_query),
            headers=headers,
            body=body,
            source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
        )
        event["rawQueryString"] = raw_query
        if cookies:
            event["cookies"] = cookies
        if edge_error is not None:
            result: Any = edge_result(edge_error, event)
        else:
            result = self.gateway.handle(event, function)
        status, response_headers, payload = _http_response(result)
        start_response(f"{status} {_reason(status)}", response_headers)
        # Method, path, status and time only: never headers, query strings or bodies.
        took = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1fms", wsgi.log_safe(method), wsgi.log_safe(path), status, took)
        return [] if method == "HEAD" else [payload]


def _request_target(environ: Mapping[str, Any]) -> str:
    """The request target as sent (werkzeug's RAW_URI is WSGI-encoded latin-1)."""
    raw = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def edge_result(error: Exception, event: Mapping[str, Any]) -> dict[str, Any]:
    """An error the gateway answers before any function (bad framing, timeout, 413)."""
    from common.runtime.http import choose_request_id
    from tools.local import wsgi

    if not isinstance(error, wsgi.EdgeError):
        return error_result(error, event)
    request_id = choose_request_id(event)
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", "X-Request-ID": request_id},
        "body": wsgi.envelope(error, request_id).decode(),
        "isBase64Encoded": False,
    }


def _http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    try:
        status, headers, body = normalise_response(result)
    except (TypeError, ValueError):
        log.error("function returned a malformed response:\n%s", traceback.format_exc())
        status, headers, body = normalise_response(error_result(RuntimeError(), {}))
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in {"content-length", "connection", "transfer-encoding"}
    ]
    return status, [*kept, ("Content-Length", str(len(body)))], body


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def make_server(port: int, gateway: Gateway) -> Any:
    """The HTTP server of `make run` (werkzeug, threaded, backlog 1024: tools.local.wsgi)."""
    from tools.local import wsgi

    return wsgi.make_wsgi_server(port, GatewayApp(gateway))


# --------------------------------------------------------------------------- schedules


def start_scheduler(gateway: Gateway) -> Any:
    """Fire scheduled functions on their Terraform schedules; None when disabled."""
    if os.environ.get("DOCKHAND_SCHEDULES", "on").lower() in {"off", "0", "false", "no"}:
        return None
    from tools.local import infra_model
    from tools.local.scheduler import Cron, Scheduler, parse_schedule

    schedules = {}
    for name, spec in infra_model.functions().items():
        if spec.schedule:
            try:
                schedules[name] = parse_schedule(spec.schedule)
            except ValueError as exc:
                log.error("not scheduling %s: %s", name, exc)
    unavailable: set[str] = set()

    def run(function: str, event: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            gateway.invoke(function, event)
        except FunctionUnavailable as exc:
            if function not in unavailable:  # say it once, not every minute
                log.warning("scheduled %s skipped: %s", function, exc)
            unavailable.add(function)
            return
        unavailable.discard(function)
        log.info("scheduled %s ok %.1fms", function, (time.perf_counter() - started) * 1000)

    def failed(function: str, exc: BaseException) -> None:
        log.error("scheduled %s failed:\n%s", function, "".join(traceback.format_exception(exc)))

    scheduler = Scheduler(schedules, run, failed)
    # A daily job would never run in a short local session: run each cron job once at
    # start, which for the rollup means the previous UTC day.
    scheduler.start(fire_now=tuple(n for n, s in schedules.items() if isinstance(s, Cron)))
    return scheduler


# --------------------------------------------------------------------------- main


def write_local_state(api_url: str, bootstrap_key: str | None) -> None:
    from tools.cli import localstate

    env = {name: os.environ[name] for name in localstate.STATE_ENV if os.environ.get(name)}
    state = {"api_url": api_url, "bootstrap_key": bootstrap_key, "env": env, "pid": os.getpid()}
    localstate.write_state(state)


def remove_local_state(api_url: str) -> None:
    from tools.cli import localstate

    localstate.clear_state(api_url, os.getpid())  # its own file only: other runs keep theirs


def start_pumps(gateway: Gateway, backend: Backend) -> Any:
    """Push delivery's event sources (tools/local/pumps.py); None when off or on real AWS."""
    if backend.mode == "aws":
        return None  # real event source mappings deliver there
    from tools.local import pumps

    return pumps.start(gateway.invoke, allow_loopback=True)


def banner(
    api_url: str, backend: Backend, key: str | None, schedules_on: bool, pumps: Any = None
) -> str:
    from common.runtime.config import settings
    from common.triggers import ssrf
    from tools.cli import localstate
    from tools.local import infra_model

    s = settings()
    scheduled = [f"{n} {f.schedule}" for n, f in infra_model.functions().items() if f.schedule]
    lines = ["", f"dockhand local gateway: {api_url}"]
    if backend.mode == "embedded":
        lines.append(f"  AWS        embedded moto server at {backend.endpoint}")
        lines.append(
            "             IN MEMORY: all data (tables, keys, snapshots) is lost when it stops"
        )
    elif backend.mode == "external":
        lines.append(f"  AWS        {backend.endpoint} (AWS_ENDPOINT_URL)")
    else:
        lines.append(f"  AWS        real AWS, region {s.region} (DOCKHAND_TARGET=aws)")
    lines.append(f"  tables     {s.keys_table}, {s.events_table}, ... bucket {s.snapshots_bucket}")
    if schedules_on:
        lines.append(f"  schedules  {'; '.join(scheduled)} (cron jobs also ran once at start)")
    else:
        lines.append("  schedules  off (DOCKHAND_SCHEDULES=off)")
    if pumps is not None:
        lines += pumps.banner_lines()
        lines.append(f"  receivers  {ssrf.loopback_rule()}")
        lines.append("             (the ports left out are this gateway's and its emulator's)")
    else:
        lines.append(
            "  delivery   by the event source mappings (real AWS)"
            if backend.mode == "aws"
            else "  delivery   off (DOCKHAND_DELIVERY=off)"
        )
    lines.append(f"  state      {localstate.state_path(api_url)} (the dockhand CLI uses it)")
    if key:
        lines += [
            f"  API key    {key}",
            f'             (creator, tenant "{LOCAL_TENANT}"; also in the state file above, '
            "for the CLI and scripts)",
            "",
            "Try:",
            f"  curl -s {api_url}/status",
            f"  curl -s -X POST {api_url}/events -H 'Authorization: Bearer {key}' "
            '-H \'Content-Type: application/json\' -d \'{"event_type":"hello","payload":{}}\'',
            f"  .venv/bin/dockhand keys create --tenant {LOCAL_TENANT} --role viewer",
        ]
    else:
        lines.append("  API key    none created: use `dockhand keys create` against your tables")
    lines += ["", "Ctrl-C stops it.", ""]
    return "\n".join(lines)


# Things to start with the gateway, after the emulator, the tables and the HTTP server
# are up and before the banner (e.g. a delivery pump).  Each gets the gateway (to
# invoke functions) and the backend, and returns a function that stops it, or None.
StartupHook = Callable[[Gateway, Backend], Callable[[], None] | None]
STARTUP_HOOKS: list[StartupHook] = []


def run_startup_hooks(gateway: Gateway, backend: Backend) -> list[Callable[[], None]]:
    """Run STARTUP_HOOKS in order; their stop functions, to call in reverse order."""
    stops = []
    for hook in STARTUP_HOOKS:
        stop = hook(gateway, backend)
        if stop is not None:
            stops.append(stop)
    return stops


def _install_stop_signals(stop: threading.Event) -> None:
    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def main() -> int:
    # Root at WARNING keeps botocore's "Found credentials" chatter out of the way.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    port = int(os.environ.get("PORT") or 3000)
    stop = threading.Event()
    _install_stop_signals(stop)
    gateway = Gateway()
    try:
        server = make_server(port, gateway)  # bind first: a busy port fails fast
    except OSError as exc:
        print(f"dockhand: cannot listen on 127.0.0.1:{port} ({exc}); set PORT=...", file=sys.stderr)
        return 1
    api_url = f"http://127.0.0.1:{server.server_address[1]}"
    backend = Backend("aws")
    scheduler = None
    pumps = None
    serving = False
    hook_stops: list[Callable[[], None]] = []
    try:
        backend = start_backend()
        prepare_resources(backend)
        key = create_bootstrap_key(backend)
        write_local_state(api_url, key)
        if backend.mode != "aws":
            reserve_own_ports(api_url, backend)
        pumps = start_pumps(gateway, backend)  # before serving: it sets the queue URL
        threading.Thread(target=server.serve_forever, name="dockhand-http", daemon=True).start()
        serving = True
        scheduler = start_scheduler(gateway)
        hook_stops = run_startup_hooks(gateway, backend)
        print(banner(api_url, backend, key, scheduler is not None, pumps), flush=True)
        while not stop.wait(0.5):
            pass
        log.info("stopping")
    except Exception as exc:
        print(f"dockhand: the local gateway could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        if serving:
            server.shutdown()  # waits for serve_forever to return: only when it ran
        server.server_close()
        for stop_hook in reversed(hook_stops):
            stop_hook()
        if scheduler is not None:
            scheduler.stop()
        if pumps is not None:
            pumps.stop()
        remove_local_state(api_url)
        backend.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
