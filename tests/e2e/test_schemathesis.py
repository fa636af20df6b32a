"""schemathesis against the local gateway (what `make run` serves), over real HTTP.

Every operation of the served `GET /openapi.json` is fuzzed with every check
(no 5xx; status codes, content types, headers and bodies as documented; invalid
input refused; valid input accepted), bounded by `MAX_EXAMPLES` per operation and
a fixed seed.  The exceptions, each with its reason, are in `schemathesis.toml`
next to this file.  `make fuzz` runs the same command against a running `make run`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    PYTHON,
    Gateway,
    gateway_env,
    http,
    start_gateway,
    stop_gateway,
)
from tools.gen import openapi

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(PYTHON).with_name("schemathesis"))
MAX_EXAMPLES = 5
SEED = 1
TIME_CAP_SECONDS = 240  # a hang fails CI instead of stalling it


def fuzz_command(url: str, key: str, report_dir: Path) -> list[str]:
    """The schemathesis invocation CI runs (docs/reliability.md shows the same)."""
    return [
        SCHEMATHESIS,
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--exclude-checks",
        "unsupported_method,ignored_auth",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
    ]


@pytest.fixture(scope="module")
def fuzz_gateway(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    """A gateway of its own: fuzzing sends ~1,200 requests a minute, over the default
    rate limit of one key, and 429 everywhere would hide what the handlers answer."""
    monkeypatch_module.setattr(
        "tests.e2e.conftest.gateway_env",
        lambda port, state_dir: {
            **gateway_env(port, state_dir),
            "DOCKHAND_RATE_LIMIT_REQUESTS": "1000000",
        },
    )
    running = start_gateway(tmp_path_factory.mktemp("fuzz-gateway"))
    yield running
    assert stop_gateway(running) == 0, running.log()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patcher:
        yield patcher


@pytest.mark.e2e
@pytest.mark.slow
def test_every_operation_conforms_to_the_served_document(
    fuzz_gateway: Gateway, tmp_path: Path
) -> None:
    completed = subprocess.run(
        fuzz_command(fuzz_gateway.url, fuzz_gateway.key, tmp_path),
        cwd=tmp_path,  # schemathesis writes its .schemathesis/ cache in the cwd
        capture_output=True,
        text=True,
        timeout=TIME_CAP_SECONDS,
        check=False,
    )
    summary = completed.stdout[-6000:]
    assert completed.returncode == 0, f"schemathesis found failures:\n{summary}"
    operations = sum(len(ops) for ops in openapi.build_document()["paths"].values())
    # All but GET /openapi.json: schemathesis leaves out the URL it loaded the document
    # from (tests/unit/test_openapi.py checks that route's answer).
    assert re.search(rf"Tested: +{operations - 1}\b", completed.stdout), summary


@pytest.mark.e2e
def test_methods_no_route_has_get_the_route_not_found_answer(gateway: Gateway) -> None:
    """Found by schemathesis: http.server answered TRACE/QUERY with a 501 HTML page."""
    for method in ("TRACE", "QUERY", "PROPFIND"):
        result = http(gateway.url, method, "/status")
        assert result.status == 404, method
        assert result.error_code == "not_found"
        assert result.headers["x-request-id"]
