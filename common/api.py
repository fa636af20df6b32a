"""Route dispatch for API Gateway HTTP API events: a dict of route keys, no framework.

API Gateway has already matched the path; each event names its `routeKey`
(e.g. "GET /events/{event_id}").  A function declares `ROUTES` mapping those keys
to `Route`s, and `http_handler` turns that table into the Lambda entry point:
request id → logger context → size limit → parse → auth → rate limit → route →
error envelope → metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# auth and ratelimit run on every authenticated request, and the first one of each
# container too: load them with the handler, not inside the first request.
from common.access import auth, ratelimit
from common.runtime import catalogue
from common.runtime.errors import ApiError, NotFound
from common.runtime.http import (
    DEFAULT_MAX_BODY,
    Request,
    choose_request_id,
    error_response,
    parse_request,
)
from common.runtime.observability import (
    add_log_keys,
    flush_metrics,
    logger,
    metrics,
    start_invocation,
)
from common.store.failures import classify

Response = dict[str, Any]
RouteFn = Callable[[Request], Response]
Auth = Literal["none", "viewer", "creator"]
LambdaHandler = Callable[[dict[str, Any], Any], Response]


@dataclass(frozen=True)
class Route:
    fn: RouteFn
    auth: Auth = "viewer"
    max_body: int = DEFAULT_MAX_BODY


def http_handler(function: str, routes: Mapping[str, Route]) -> LambdaHandler:
    """The Lambda entry point serving `routes`."""

    def handler(event: dict[str, Any], context: Any) -> Response:
        started = time.perf_counter()
        request_id = choose_request_id(event)
        route_key = str(event.get("routeKey", ""))
        start_invocation(correlation_id=request_id, function=function, route=route_key)
        response = _dispatch(routes.get(route_key), event, request_id)
        response.setdefault("headers", {})["X-Request-ID"] = request_id
        _observe(route_key, response, time.perf_counter() - started)
        return response

    handler.__name__ = f"{function}_handler"
    return handler


def _dispatch(route: Route | None, event: Mapping[str, Any], request_id: str) -> Response:
    try:
        if route is None:
            raise NotFound("No such route.")
        request = parse_request(event, request_id, route.max_body)
        if route.auth != "none":
            _authorize(request, route.auth)
        return route.fn(request)
    except ApiError as error:
        if error.status >= 500:
            logger.error("request failed", extra={"code": error.code, "cause": repr(error)})
        return error_response(error, request_id)
    except Exception as exc:  # the envelope must hold whatever went wrong
        return error_response(classify(exc), request_id)


def _authorize(request: Request, role: Auth) -> None:
    principal = auth.authenticate(request.header("authorization"), client=request.source_ip)
    request.principal = principal
    add_log_keys(tenant=principal.tenant, key_id=principal.key_id)
    if role == "creator":
        auth.require_role(principal, "creator")
    ratelimit.check(principal)


def _observe(route_key: str, response: Response, seconds: float) -> None:
    """Per-route request metrics, then (errors only) the error code on its own blob:
    powertools flushes one dimension set per blob, and `code` must not multiply the
    per-route metrics' cardinality (see common.runtime.catalogue)."""
    status = int(response["statusCode"])
    metrics.add_dimension(name="route", value=route_key or "unknown")
    catalogue.count("requests")
    catalogue.record("latency", seconds * 1000)
    if 400 <= status < 500:
        catalogue.count("errors_4xx")
    elif status >= 500:
        catalogue.count("errors_5xx")
    _flush()
    if status >= 400:
        metrics.add_dimension(name="code", value=_error_code(response))
        catalogue.count("errors_by_code")
        _flush()
    logger.info("request", extra={"status": status, "duration_ms": round(seconds * 1000, 2)})


def _flush() -> None:
    flush_metrics()


def _error_code(response: Response) -> str:
    """The envelope's `error.code`; "unknown" if the body is not our envelope."""
    import json

    try:
        code = json.loads(response.get("body") or "")["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return str(code) if code else "unknown"
