"""local.functions (infra/functions.tf) and infra/routes.json ↔ the handler modules.

Strict on purpose: a function Terraform deploys whose handler module is missing, or
whose declared routes differ from the routes API Gateway sends it (routes.json, which
`make openapi` writes from the declarations), fails here."""

from __future__ import annotations

import importlib
from collections import Counter

import pytest

from tools.local.infra_model import functions, load, routes

FUNCTIONS = sorted(functions())


@pytest.mark.parametrize("name", FUNCTIONS)
def test_handler_setting_names_the_module_of_the_function(name: str) -> None:
    assert functions()[name].handler == f"handlers.{name}.handler"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_routes_equal_the_handler_route_table(name: str) -> None:
    spec = functions()[name]
    module = importlib.import_module(f"handlers.{name}")
    assert callable(module.handler)
    declared = set(getattr(module, "ROUTES", {}).keys())
    assert declared == set(spec.routes), f"handlers/{name} routes vs infra/routes.json"
    assert len(spec.routes) == len(set(spec.routes)), "a route is listed twice"


def test_terraform_routes_come_from_the_generated_routes_json() -> None:
    """No route key is typed in Terraform: each function's routes are routes.json's."""
    parsed = load("functions.tf")["locals"][0]
    assert parsed["routes"] == '${jsondecode(file("${path.module}/routes.json"))}'
    assert [name for name, spec in parsed["functions"].items() if "routes" in spec] == []
    calls = load("main.tf")["module"][0]["function"]
    assert calls["routes"] == "${lookup(local.routes, each.key, [])}"
    assert set(routes()) <= set(functions()), "routes.json names a function Terraform lacks"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_function_has_routes_or_a_schedule_or_a_trigger_never_two(name: str) -> None:
    spec = functions()[name]
    assert [bool(spec.routes), bool(spec.schedule), bool(spec.trigger)].count(True) == 1


def test_triggers_are_the_delivery_stream_and_queue() -> None:
    triggers = {name: spec.trigger for name, spec in functions().items() if spec.trigger}
    assert triggers == {"dispatch": "stream:events", "deliver": "queue:deliveries"}


def test_every_route_key_belongs_to_exactly_one_function() -> None:
    counts = Counter(route for spec in functions().values() for route in spec.routes)
    assert [route for route, n in counts.items() if n > 1] == []


def test_no_catch_all_routes() -> None:
    for spec in functions().values():
        for route in spec.routes:
            method, _, path = route.partition(" ")
            assert method in {"GET", "POST", "PUT", "PATCH", "DELETE"}, route
            assert path.startswith("/"), route
            assert "{proxy+}" not in path, route
            assert route != "$default"


def test_schedules_are_the_contracts() -> None:
    schedules = {name: spec.schedule for name, spec in functions().items() if spec.schedule}
    assert schedules == {
        "sweeper": "rate(1 minute)",
        "rollup": "cron(5 0 * * ? *)",
        "retry": "rate(1 minute)",
    }
