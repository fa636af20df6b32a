"""`terraform validate` on infra/, offline, when a provider mirror is available.

Providers cannot be downloaded here, but a filesystem mirror of hashicorp/aws
(TF_PLUGIN_DIR, default /opt/tf-plugins) lets Terraform check every resource
and attribute against the real provider schema.  hashicorp/null and
hashicorp/random are not mirrored, so the copy that is validated drops their
two kinds of resources (SAM metadata, the generated master key) and nothing
else.  Skipped when terraform or the mirror is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.local.infra_model import INFRA_DIR

PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
UNMIRRORED_BLOCK = re.compile(
    r'^resource "(null_resource|random_password)" "[^"]+" \{\n.*?^\}\n', re.S | re.M
)
UNMIRRORED_PROVIDER = re.compile(r"^    (random|null) = \{\n.*?^    \}\n", re.S | re.M)


def strip_unmirrored(text: str) -> str:
    text = UNMIRRORED_BLOCK.sub("", text)
    text = UNMIRRORED_PROVIDER.sub("", text)
    return text.replace("random_password.master_key.result", '"validated-offline"')


def test_strip_unmirrored_removes_only_null_and_random() -> None:
    text = (
        'resource "null_resource" "sam_metadata_x" {\n  triggers = {}\n}\n'
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'
        'resource "random_password" "master_key" {\n  length = 64\n}\n'
        "x = random_password.master_key.result\n"
    )
    assert strip_unmirrored(text) == (
        'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\nx = "validated-offline"\n'
    )


@pytest.mark.skipif(
    shutil.which("terraform") is None or not (PLUGIN_DIR / "registry.terraform.io").is_dir(),
    reason="needs terraform and a provider mirror (TF_PLUGIN_DIR)",
)
def test_terraform_validate(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA_DIR, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    for tf in copy.rglob("*.tf"):
        tf.write_text(strip_unmirrored(tf.read_text()))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    validate = subprocess.run(
        ["terraform", "validate", "-no-color"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
