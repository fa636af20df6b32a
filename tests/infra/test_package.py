"""tools/package.py: the function zip is deterministic, holds exactly the
shipped code, and every function imports from it in a clean interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tools.gen import package
from tools.local.infra_model import functions


@pytest.fixture(scope="module")
def function_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build_function(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def unzipped(function_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("function")
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(target)
    return target


def test_same_source_gives_the_same_bytes(function_zip: Path, tmp_path: Path) -> None:
    again = package.build_function(tmp_path)
    assert again.read_bytes() == function_zip.read_bytes()


def test_file_times_do_not_change_the_bytes(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in package.FUNCTION_PACKAGES:
        (source / name).mkdir(parents=True)
        (source / name / "__init__.py").write_text("x = 1\n")
    first = package.build_function(tmp_path / "a", source).read_bytes()
    os.utime(source / "common" / "__init__.py", (1_000_000_000, 1_000_000_000))
    (source / "common" / "__pycache__").mkdir()
    (source / "common" / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"junk")
    assert package.build_function(tmp_path / "b", source).read_bytes() == first
    (source / "common" / "__init__.py").write_text("x = 2\n")
    assert package.build_function(tmp_path / "c", source).read_bytes() != first


def test_entries_are_sorted_with_fixed_time_and_mode(function_zip: Path) -> None:
    with zipfile.ZipFile(function_zip) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {package.FIXED_DATE_TIME}
    assert {(info.external_attr >> 16) & 0o777 for info in infos} == {0o644}


def test_zip_holds_exactly_handlers_and_common(function_zip: Path) -> None:
    with zipfile.ZipFile(function_zip) as archive:
        names = set(archive.namelist())
    expected = {
        path.relative_to(package.ROOT).as_posix()
        for top in package.FUNCTION_PACKAGES
        for path in (package.ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert names == expected  # package data (templates, JSON) included, nothing else
    assert {name.split("/")[0] for name in names} == set(package.FUNCTION_PACKAGES)


def test_prune_layer_drops_bytecode_and_scripts(tmp_path: Path) -> None:
    site = tmp_path / "python"
    (site / "bin").mkdir(parents=True)
    (site / "bin" / "jp.py").write_text("")
    (site / "pkg" / "__pycache__").mkdir(parents=True)
    (site / "pkg" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"")
    (site / "pkg" / "m.py").write_text("")
    (site / "pkg" / "data.json").write_text("{}")
    package.prune_layer(site)
    assert sorted(name for name, _ in package.tree_files(site)) == ["pkg/data.json", "pkg/m.py"]


def test_layer_is_installed_for_the_lambda_platform(tmp_path: Path) -> None:
    command = package.pip_install_command(Path("requirements.txt"), tmp_path)
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary=:all:" in command
    assert "--implementation cp" in joined


IMPORT_CHECK = """
import importlib, json, sys
sys.path[:0] = [{code!r}, {deps!r}]
module = importlib.import_module("handlers.{name}")
assert callable(module.handler)
print(json.dumps({{"file": module.__file__}}))
"""


def import_from_zip(name: str, code_dir: Path) -> dict[str, object]:
    """Import handlers.<name> with only the zip and third-party packages on sys.path:
    -I ignores PYTHON* variables and the user site, -S skips site-packages and the
    editable install of this repository (its .pth would find the source tree)."""
    deps = sysconfig.get_paths()["purelib"]
    script = IMPORT_CHECK.format(code=str(code_dir), deps=deps, name=name)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "dockhand",
        "POWERTOOLS_METRICS_NAMESPACE": "dockhand",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


@pytest.mark.parametrize("name", sorted(functions()))
def test_function_imports_from_its_built_package(name: str, unzipped: Path) -> None:
    loaded = import_from_zip(name, unzipped)
    assert str(loaded["file"]).startswith(str(unzipped)), "imported from outside the zip"
