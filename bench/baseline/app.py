"""The baseline: POST /events the way a FastAPI + Mangum Lambda is usually built.

This is the stack dockhand is compared with, written as such apps commonly are
(and as the FastAPI, Mangum and powertools docs show them): one FastAPI app object,
pydantic request/response models, an API-key dependency that checks a bcrypt hash,
a boto3 DynamoDB *resource* created at import time, a request-id middleware, error
handlers that produce the contract's error envelope, the Mangum adapter as the
Lambda handler, and powertools Logger + Tracer (X-Ray) decorating it.

It serves the same request/response contract as dockhand's POST /events and
stores a new event with one DynamoDB write (a conditional put keyed by the content
fingerprint, which also gives duplicate suppression). Keys are read from the
dockhand keys table (same `dk_<key_id>_<secret>` format) so one key works for
both in the benchmark.

Deliberately generous to the baseline: verified keys are cached for 60 s per
container like dockhand does, so the warm comparison measures the framework, not
bcrypt. Never deployed; lives in bench/ and .bench-venv only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import bcrypt
import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = Logger(service="baseline")
tracer = Tracer(service="baseline")

# Created at import, as most such apps do: the cost lands in the cold start.
dynamodb = boto3.resource("dynamodb")
events_table = dynamodb.Table(os.environ.get("BASELINE_EVENTS_TABLE", "baseline-events"))
keys_table = dynamodb.Table(os.environ.get("BASELINE_KEYS_TABLE", "dockhand-keys"))

DEDUP_WINDOW_SECONDS = 300
KEY_CACHE_SECONDS = 60
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_key_cache: dict[str, tuple[dict[str, str], float]] = {}

app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(min_length=1, max_length=255)
    payload: dict[str, Any]
    source: str | None = Field(default=None, max_length=255)
    occurred_at: datetime | None = None


class EventOut(BaseModel):
    event_id: str
    event_type: str
    source: str | None
    received_at: str
    status: Literal["pending"] = "pending"
    duplicate: bool


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None):
        self.status, self.code, self.message, self.details = status, code, message, details or []


def _iso(moment: float) -> str:
    value = datetime.fromtimestamp(moment, tz=timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _error(request: Request, status: int, code: str, message: str, details: list[dict[str, str]]) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details,
                      "request_id": getattr(request.state, "request_id", "")}}
    return JSONResponse(status_code=status, content=body)


@app.middleware("http")
async def request_id_middleware(request: Request, call_next: Any) -> Any:
    sent = request.headers.get("x-request-id", "")
    aws_event = request.scope.get("aws.event", {})
    request.state.request_id = sent if _REQUEST_ID.fullmatch(sent) else aws_event.get(
        "requestContext", {}).get("requestId", uuid.uuid4().hex)
    logger.set_correlation_id(request.state.request_id)
    response = await call_next(request)
    response.headers["X-Request-ID"] = request.state.request_id
    return response


@app.exception_handler(ApiProblem)
async def problem_handler(request: Request, exc: ApiProblem) -> JSONResponse:
    return _error(request, exc.status, exc.code, exc.message, exc.details)


@app.exception_handler(RequestValidationError)
async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return _error(request, 400, "invalid_json", "The request body is not valid JSON.", [])
    details = [{"field": ".".join(str(p) for p in err["loc"][1:]), "message": err["msg"]}
               for err in exc.errors()]
    return _error(request, 400, "validation_error", "The request is not valid.", details)


@app.exception_handler(StarletteHTTPException)
async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "not_found", 401: "unauthorized", 403: "forbidden"}
    return _error(request, exc.status_code, codes.get(exc.status_code, "internal_error"), str(exc.detail), [])


@app.exception_handler(Exception)
async def unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error")
    return _error(request, 500, "internal_error", "Something went wrong.", [])


@tracer.capture_method
def current_principal(authorization: str | None = Header(default=None)) -> dict[str, str]:
    """The API-key dependency: one GetItem by key id, then bcrypt of the secret."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith("dk_"):
        raise ApiProblem(401, "unauthorized", "A valid API key is required.")
    cached = _key_cache.get(token)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    key_id, _, secret = token[3:].partition("_")
    item = keys_table.get_item(Key={"pk": f"KEY#{key_id}", "sk": "KEY"}, ConsistentRead=True).get("Item")
    if not item or item.get("revoked_at") or not bcrypt.checkpw(secret.encode(), str(item["secret_hash"]).encode()):
        raise ApiProblem(401, "unauthorized", "A valid API key is required.")
    principal = {"tenant": str(item["tenant"]), "role": str(item["role"])}
    _key_cache[token] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
    return principal


def creator(principal: dict[str, str] = Depends(current_principal)) -> dict[str, str]:
    if principal["role"] != "creator":
        raise ApiProblem(403, "forbidden", "This key may not do that.")
    return principal


@app.post("/events", status_code=201, response_model=EventOut)
@tracer.capture_method
def create_event(body: EventIn, principal: dict[str, str] = Depends(creator)) -> Any:
    canonical = json.dumps([body.event_type, body.payload, body.source], sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    now = time.time()
    event_id = uuid.uuid4().hex
    item = {
        "pk": f"{principal['tenant']}#{fingerprint}",
        "sk": "E",
        "event_id": event_id,
        "event_type": body.event_type,
        "payload": json.dumps(body.payload),
        "source": body.source,
        "occurred_at": body.occurred_at.isoformat() if body.occurred_at else None,
        "received_at": _iso(now),
        "status": "pending",
        "dedup_until": int(now) + DEDUP_WINDOW_SECONDS,
    }
    try:
        events_table.put_item(
            Item=item,
            ConditionExpression=Attr("pk").not_exists() | Attr("dedup_until").lt(int(now)),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        original = events_table.get_item(Key={"pk": item["pk"], "sk": "E"}, ConsistentRead=True)["Item"]
        body_out = EventOut(event_id=original["event_id"], event_type=original["event_type"],
                            source=original.get("source"), received_at=original["received_at"], duplicate=True)
        return JSONResponse(status_code=200, content=body_out.model_dump())
    logger.info("event stored", extra={"event_id": event_id})
    return EventOut(event_id=event_id, event_type=body.event_type, source=body.source,
                    received_at=item["received_at"], duplicate=False)


_asgi_handler = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _asgi_handler(event, context)
