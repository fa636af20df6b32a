"""What API Gateway does before a Lambda sees a request: match the route and build
the HTTP API payload 2.0 event.  Shared by the local gateway, `make invoke` and tests."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from tools.local import infra_model

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def _compiled() -> list[tuple[str, str, re.Pattern[str], int]]:
    """(method, route_key, path regex, literal length) per route, most specific first."""
    routes = []
    for route_key in infra_model.route_table():
        method, template = route_key.split(" ", 1)
        pattern = (
            "^"
            + _PARAM.sub(
                r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
            )
            + "$"
        )
        literal = len(_PARAM.sub("", template))
        routes.append((method, route_key, re.compile(pattern), literal))
    # API Gateway prefers the most specific route: more literal characters win.
    routes.sort(key=lambda r: -r[3])
    return routes


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(route key, path parameters) for a request, or None: no such route."""
    for route_method, route_key, pattern, _ in _compiled():
        if route_method != method.upper():
            continue
        found = pattern.match(path)
        if found:
            return route_key, found.groupdict()
    return None


def build_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_params: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    base64_body: bool | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as Lambda receives it."""
    if route_key is None:
        matched = match_route(method, path)
        route_key, params = matched if matched else ("$default", {})
        path_params = path_params if path_params is not None else params
    raw_body = body.encode() if isinstance(body, str) else body
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    encode = base64_body if base64_body is not None else _needs_base64(raw_body, lowered)
    now = time.time()
    query = dict(query or {})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encode,
    }
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = dict(path_params)
    if raw_body:
        event["body"] = base64.b64encode(raw_body).decode() if encode else raw_body.decode()
    return event


def _needs_base64(body: bytes | None, headers: Mapping[str, str]) -> bool:
    # API Gateway base64-encodes bodies that are not text; do the same.
    if not body:
        return False
    content_type = headers.get("content-type", "")
    if content_type.startswith(("application/json", "text/")):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    return True
