"""Deployed, a function's path to its first answered request imports no boto3.

Each function answers its representative request (bench/scenarios.py) in a fresh
interpreter, with the deployed settings: `DOCKHAND_MASTER_KEY_SECRET_ID` where
infra/permissions.tf grants the master key, no `DOCKHAND_MASTER_KEY`, and moto's server
over HTTP (an in-process `mock_aws` would import boto3 itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import scenarios
from tools.local import infra_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def _permissions() -> dict[str, Any]:
    permissions: dict[str, Any] = infra_model.load("permissions.tf")["locals"][0]["permissions"]
    return permissions


def test_no_function_imports_boto3_up_to_its_first_response_deployed() -> None:
    functions = infra_model.functions()
    granted = _permissions()
    with scenarios.emulator() as endpoint:
        key = scenarios.create_key(4)
        cases = scenarios.scenarios(scenarios.prepare(key))
        assert set(cases) == set(functions), "every function needs a representative request"
        for name, spec in functions.items():
            master_key = granted[name]["master_key"] is True
            base = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "AWS_LAMBDA_FUNCTION_NAME": name}
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    scenarios.child_script(spec.handler, cases[name].build(key)),
                ],
                cwd=REPO_ROOT,
                env=scenarios.deployed_env(base, endpoint, master_key),
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
            result = scenarios.child_result(done.stdout)
            assert result["status"] is None or result["status"] < 300, (name, done.stdout[-500:])
            assert result["boto3"] == [], f"{name} imports {result['boto3']}"
            # the deployed path was taken: the key came from Secrets Manager, at init
            assert result["master_key_read"] is master_key, name
