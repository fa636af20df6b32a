"""Route dispatch for API Gateway HTTP API events: a table of route keys, no framework.

API Gateway has already matched the path; each event names its `routeKey`
(e.g. "GET /events/{event_id}").  A handler module declares each route once, on its
function (`@ROUTES.post("/events", auth="creator", ok={201: EventCreatedView})`): the
docstring is its summary (first line) and description (the rest), a parameter named
`body` or `query` names the pydantic model the dispatcher validates before the
function runs.  tools/gen/openapi.py derives the OpenAPI document and infra/routes.json
(Terraform's and make run's routing) from these declarations alone.

`http_handler` turns the table into the Lambda entry point: request id → logger
context → size limit → parse → auth → rate limit → guard → body and query models →
route → error envelope → metrics.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

# auth and ratelimit run on every authenticated request, and the first one of each
# container too: load them with the handler, not inside the first request.
from pydantic import BaseModel

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
from common.runtime.routedoc import Body, Extras
from common.store.failures import classify

Response = dict[str, Any]
RouteFn = Callable[..., Response]
Auth = Literal["none", "viewer", "creator"]
LambdaHandler = Callable[[dict[str, Any], Any], Response]
F = TypeVar("F", bound=RouteFn)
NO_EXTRAS = Extras()


@dataclass(frozen=True)
class Route:
    """One route, as its declaration says: the function and who may call it, the models
    the dispatcher validates before calling it, and what the OpenAPI document shows."""

    fn: RouteFn
    auth: Auth = "viewer"
    max_body: int = DEFAULT_MAX_BODY
    summary: str = ""
    description: str = ""
    ok: Mapping[int, Body] = field(default_factory=dict)  # status → response body
    body: type[BaseModel] | None = None
    optional_body: bool = False  # annotated `Model | None`: an empty body is None
    query: type[BaseModel] | None = None
    # Runs after auth and before the body is read (a signature that authenticates the
    # caller); its result is the function's `guarded` argument.
    guard: Callable[[Request], Any] | None = None
    doc: Extras = NO_EXTRAS

    def call(self, request: Request) -> Response:
        arguments: dict[str, Any] = {}
        if self.guard is not None:
            arguments["guarded"] = self.guard(request)
        if self.body is not None:
            empty = self.optional_body and not request.body.strip()
            arguments["body"] = None if empty else request.json_model(self.body)
        if self.query is not None:
            arguments["query"] = request.query_model(self.query)
        return self.fn(request, **arguments)


class RouteTable:
    """A handler module's routes, declared with one decorator each; `.table` is what
    `http_handler` serves (the module exports it as ROUTES)."""

    def __init__(self) -> None:
        self.table: dict[str, Route] = {}

    def route(
        self,
        method: str,
        path: str,
        *,
        auth: Auth = "viewer",
        ok: Mapping[int, Body],
        max_body: int = DEFAULT_MAX_BODY,
        errors: tuple[int, ...] = (),
        doc: Extras = NO_EXTRAS,
        guard: Callable[[Request], Any] | None = None,
        description: str | None = None,
    ) -> Callable[[F], F]:
        def declare(fn: F) -> F:
            route_key = f"{method} {path}"
            if route_key in self.table:
                raise ValueError(f"{route_key} is declared twice")
            summary, _, rest = inspect.cleandoc(fn.__doc__ or "").partition("\n\n")
            if not summary:
                raise ValueError(f"{route_key}: the function's docstring (its summary) is missing")
            body, optional, query = _models(fn, route_key)
            self.table[route_key] = Route(
                fn,
                auth=auth,
                max_body=max_body,
                summary=_one_line(summary),
                description=_one_line(rest) if description is None else description,
                ok=dict(ok),
                body=body,
                optional_body=optional,
                query=query,
                guard=guard,
                doc=replace(doc, errors=(*doc.errors, *errors)),
            )
            return fn

        return declare

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("DELETE", path, **kwargs)


def _one_line(text: str) -> str:
    """A docstring paragraph as the one line OpenAPI shows (paragraphs keep their break)."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


_KNOWN = {"request", "body", "query", "guarded"}


def _models(
    fn: RouteFn, route_key: str
) -> tuple[type[BaseModel] | None, bool, type[BaseModel] | None]:
    """The body model (and whether `Model | None` makes it optional) and the query model,
    read once from the annotations of `body` and `query`."""
    code = fn.__code__
    unknown = set(code.co_varnames[: code.co_argcount]) - _KNOWN
    if unknown:
        raise TypeError(f"{route_key}: unknown parameters {sorted(unknown)}")
    body, optional = _annotation(fn, "body", route_key)
    query, _ = _annotation(fn, "query", route_key)
    return body, optional, query


def _annotation(fn: RouteFn, name: str, route_key: str) -> tuple[type[BaseModel] | None, bool]:
    """A parameter's model and whether ` | None` makes it optional, looked up by its
    dotted name (`inputs.NewSubscription`): what typing.get_type_hints would find,
    without evaluating every annotation of every route at a cold start."""
    annotation = fn.__annotations__.get(name)
    if annotation is None:
        return None, False
    found: Any
    if isinstance(annotation, str):  # the handlers use `from __future__ import annotations`
        dotted = annotation.removesuffix(" | None")
        optional = dotted != annotation
        found = fn.__globals__.get(dotted.split(".")[0])
        for part in dotted.split(".")[1:]:
            found = getattr(found, part, None)
    else:
        members = getattr(annotation, "__args__", (annotation,))
        models = [member for member in members if member is not type(None)]
        found, optional = models[0], len(models) < len(members)
    if not isinstance(found, type) or not issubclass(found, BaseModel):
        raise TypeError(f"{route_key}: `{name}` must be annotated with a pydantic model")
    return found, optional


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
        return route.call(request)
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
