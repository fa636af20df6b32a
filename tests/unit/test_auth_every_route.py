"""Every route that takes an API key refuses a missing or invalid one, and every write
route refuses a viewer key: walked over the served route table, so a new route is
covered the day it is added.

schemathesis's `ignored_auth` check covers the same ground over HTTP, but from one
address: past the failed-authentication budget (30 a minute per client, by contract)
the fuzzer's invalid keys are answered 429, so that check is off in
tests/e2e/schemathesis.toml and this test is its replacement."""

from __future__ import annotations

import importlib
import itertools
import json

import pytest

from tests.conftest import Keys
from tools.gen import openapi
from tools.local import apigw, infra_model

ROUTES = openapi.route_table()
KEYED = sorted(key for key, route in ROUTES.items() if route.auth in ("viewer", "creator"))
CREATOR_ONLY = sorted(key for key, route in ROUTES.items() if route.auth == "creator")
_addresses = (f"198.51.100.{n % 250}" for n in itertools.count(1))  # one client per call


def _call(route_key: str, authorization: str | None) -> tuple[int, str]:
    method, path = route_key.split(" ", 1)
    concrete = path.replace("{", "x").replace("}", "")
    headers = {"content-type": "application/json", "user-agent": "pytest"}
    if authorization is not None:
        headers["authorization"] = authorization
    event = apigw.build_event(
        method,
        concrete,
        route_key=route_key,
        path_params=dict.fromkeys(openapi._path_params(path), "x"),
        headers=headers,
        body="{}" if method in ("POST", "PATCH") else None,
        source_ip=next(_addresses),
    )
    module = importlib.import_module(f"handlers.{infra_model.route_table()[route_key]}")
    response = module.handler(event, None)
    body = json.loads(response["body"]) if response.get("body") else {}
    return int(response["statusCode"]), str(body.get("error", {}).get("code", ""))


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("route_key", KEYED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", "Bearer dk_short", "Bearer dk_0123456789abcdef_" + "A" * 43],
)
def test_a_missing_or_invalid_key_is_401(route_key: str, authorization: str | None) -> None:
    assert _call(route_key, authorization) == (401, "unauthorized")


@pytest.mark.parametrize("route_key", CREATOR_ONLY)
def test_a_viewer_key_on_a_write_route_is_403(keys: Keys, route_key: str) -> None:
    assert _call(route_key, f"Bearer {keys.viewer}") == (403, "forbidden")


def test_the_walk_covers_the_new_routes() -> None:
    assert {"POST /queues", "PATCH /subscriptions/{subscription_id}"} <= set(CREATOR_ONLY)
    assert "GET /queues/{name}" in KEYED
