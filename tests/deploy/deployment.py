"""Apply `infra/` with the real hashicorp/aws provider to an embedded moto server.

`make check-deploy` (tests/deploy/) uses this to prove that the Terraform deploys, not
only that it validates: a temporary copy of `infra/` gets the check's own override files
(tests/deploy/overrides/, which point the provider at the emulator and paper over the
emulator's gaps — never over infra/ itself), then `terraform init` from the local
provider mirror, `apply`, and a second `plan` that must be empty.

What replaces what, and why:
- providers: only from the filesystem mirror the validate test finds (TF_PLUGIN_DIR);
  nothing is downloaded.  hashicorp/null and hashicorp/random are stripped exactly as
  tests/infra/test_terraform_validate.py does, and only when the mirror lacks them.
- the zips: build/function.zip is built from the tree (no network, as `make package`
  does); build/layer.zip is the real one when `make package` has built it, else a small
  stand-in (moto stores layers but never runs code, so their content is not exercised).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.test_terraform_validate import PLUGIN_DIR, strip_unmirrored
from tools.local.infra_model import INFRA_DIR

ROOT = INFRA_DIR.parent
OVERRIDES_DIR = Path(__file__).resolve().parent / "overrides"
ENDPOINT_PLACEHOLDER = "@EMULATOR_ENDPOINT@"
REGION = "us-east-1"
# The names infra/ gives resources with its default variables (project-environment).
NAME = "dockhand-dev"
APPLY_TIMEOUT_SECONDS = 600
EMULATOR_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def mirror_problem() -> str | None:
    """Why the check cannot run here, or None when it can."""
    if shutil.which("terraform") is None:
        return "terraform is not on PATH"
    if not (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        return (
            f"no hashicorp/aws provider in the local mirror {PLUGIN_DIR} "
            "(set TF_PLUGIN_DIR to a filesystem mirror; providers are never downloaded)"
        )
    return None


def mirrored(provider: str) -> bool:
    return (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / provider).is_dir()


@dataclass
class Emulator:
    endpoint: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, **EMULATOR_CREDENTIALS
        )


@contextmanager
def emulator() -> Iterator[Emulator]:
    """A fresh moto server on a free 127.0.0.1 port, stopped afterwards."""
    import logging

    from moto.server import ThreadedMotoServer

    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Emulator(f"http://{host}:{port}")
    finally:
        server.stop()


def build_zips(build_dir: Path) -> dict[str, str]:
    """build/function.zip from the tree and build/layer.zip (real or stand-in) in
    `build_dir`; returns what each one is, for the check's report."""
    from tools.gen import package

    package.build_function(build_dir)
    real_layer = ROOT / "build" / "layer.zip"
    layer = build_dir / "layer.zip"
    if real_layer.is_file():
        shutil.copyfile(real_layer, layer)
        layer_kind = f"the real layer ({real_layer.relative_to(ROOT)})"
    else:
        with zipfile.ZipFile(layer, "w") as archive:
            archive.writestr("python/STAND-IN.txt", "make package builds the real layer\n")
        layer_kind = "a stand-in (run `make package` for the real one; needs PyPI)"
    return {"function.zip": "built from handlers/ and common/", "layer.zip": layer_kind}


def prepare_copy(workdir: Path, endpoint: str, infra: Path = INFRA_DIR) -> Path:
    """A copy of `infra` under `workdir`, with the check's overrides and the zips beside it
    (infra/'s defaults read ../build/*.zip)."""
    copy = workdir / "infra"
    shutil.copytree(infra, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    if not (mirrored("null") and mirrored("random")):
        for tf in copy.rglob("*.tf"):
            tf.write_text(strip_unmirrored(tf.read_text()))
    for override in sorted(OVERRIDES_DIR.rglob("*_override.tf")):
        target = copy / override.relative_to(OVERRIDES_DIR)
        target.write_text(override.read_text().replace(ENDPOINT_PLACEHOLDER, endpoint))
    build_zips(workdir / "build")
    return copy


def terraform_env() -> dict[str, str]:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}
    for name in ("TF_PLUGIN_CACHE_DIR", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(name, None)  # nothing of a developer's real setup may leak into the check
    env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_REGION=REGION)
    return env


def terraform(
    copy: Path, *args: str, timeout: int = APPLY_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args],
        cwd=copy,
        env=terraform_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def init(copy: Path) -> subprocess.CompletedProcess[str]:
    return terraform(
        copy, "init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={PLUGIN_DIR}"
    )


def apply(copy: Path, extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    # 20 at once: the emulator answers instantly, the provider's own waits dominate.
    return terraform(
        copy, "apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=20", *extra
    )


def plan_changes(copy: Path) -> subprocess.CompletedProcess[str]:
    """`plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error."""
    return terraform(copy, "plan", "-detailed-exitcode", "-input=false", "-no-color")


def outputs(copy: Path) -> dict[str, Any]:
    import json

    shown = terraform(copy, "output", "-json", timeout=60)
    raw: dict[str, Any] = json.loads(shown.stdout)
    return {name: value["value"] for name, value in raw.items()}


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The end of a terraform run, for an assertion message."""
    text = (result.stdout + result.stderr).strip()
    return text[-6000:]
