"""Shared fixtures: an in-process AWS (moto.mock_aws) with the Terraform-defined
tables, an API client that goes through real handler entry points with real
API Gateway v2 events, API keys per tenant, and an AWS call counter."""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# moto adds its botocore hook to sessions created after its import: import it before any
# test can create the process's botocore session (common.store.aws caches one).
import moto  # noqa: F401
import pytest

from tools.local.coldstate import reset_runtime

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "DOCKHAND_MASTER_KEY": "test-master-key-0123456789abcdef0123456789",
    "DOCKHAND_TABLE_PREFIX": "dockhand-test",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "dockhand",
}
for _name, _value in TEST_ENV.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


MODULE_FIXTURE = re.compile(r"""scope\s*=\s*["']module["']""")


@functools.cache
def _declares_module_fixture(path: Path) -> bool:
    return path.is_file() and bool(MODULE_FIXTURE.search(path.read_text("utf-8")))


def shares_module_fixture(test_file: str, root: Path) -> bool:
    """Whether a test file, or a conftest.py above it, declares a module-scoped fixture."""
    path = root / test_file
    folders = [folder for folder in path.parents if folder.is_relative_to(root)]
    return _declares_module_fixture(path) or any(
        _declares_module_fixture(folder / "conftest.py") for folder in folders
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (make test): tests are spread over the workers one by one,
    except that the tests of a module with a module-scoped fixture (a gateway of its
    own, a browser, a built package) go to one worker together, so that fixture is
    built once, not once per worker (and again whenever another module's tests came in
    between).  xdist's own `xdist_group` marks cannot do this here: pytest 9 ignores
    the node id suffix xdist 3.8 adds for them."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    root = config.rootpath

    class ModuleFixtureScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            test_file = nodeid.split("::", 1)[0]
            if "@" not in nodeid and shares_module_fixture(test_file, root):
                return test_file
            return str(super()._split_scope(nodeid))

    return ModuleFixtureScheduling(config, log)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh in-process AWS with the tables and bucket Terraform defines."""
    from moto import mock_aws

    from tools.local import infra_model
    from tools.local.emulator import make_dynamodb_safe

    # make run's DynamoDB: check-then-apply transactions cost what they write, where
    # moto's own deep-copies every table a transaction touches (O(items stored) per
    # write: the 100-event tests spent minutes copying).
    make_dynamodb_safe()
    with mock_aws():
        reset_runtime()
        infra_model.ensure_configured_resources()
        yield
        reset_runtime()


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        return str(self.json["error"]["code"])


class ApiClient:
    """Calls handlers the way API Gateway does: route match → v2 event → handler."""

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json_body: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Result:
        from tools.local import apigw, infra_model

        all_headers = {"user-agent": "pytest"}
        if key is not None:
            all_headers["authorization"] = f"Bearer {key}"
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers["content-type"] = "application/json"
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        event = apigw.build_event(method, path, query=query, headers=all_headers, body=body)
        function = infra_model.route_table().get(event["routeKey"], "status")
        module = importlib.import_module(f"handlers.{function}")
        response = module.handler(event, None)
        return Result(response["statusCode"], response.get("headers", {}), response["body"])

    def get(self, path: str, **kwargs: Any) -> Result:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Result:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Result:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(aws: None) -> ApiClient:
    return ApiClient()


@dataclass(frozen=True)
class Keys:
    creator: str
    viewer: str
    other_creator: str  # tenant "globex": must never see "acme" data
    other_viewer: str


@pytest.fixture
def keys(aws: None) -> Keys:
    from common.access import auth

    return Keys(
        creator=auth.create_key("acme", "creator")["api_key"],
        viewer=auth.create_key("acme", "viewer")["api_key"],
        other_creator=auth.create_key("globex", "creator")["api_key"],
        other_viewer=auth.create_key("globex", "viewer")["api_key"],
    )


@pytest.fixture
def aws_calls(aws: None) -> Counter[str]:
    """Counts AWS API calls ("dynamodb.PutItem") made by the container's clients."""
    from common.store import aws as clients

    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    for service in ("dynamodb", "s3"):
        clients.client(service).meta.events.register("before-call.*.*", count)
    return calls
