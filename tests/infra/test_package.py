"""tools/gen/package.py: the function zip is deterministic, holds exactly the shipped
code and its bytecode (compiled by the Lambda runtime's Python, PEP 552 hash-based), and
every function imports from it in a clean interpreter."""

from __future__ import annotations

import json
import os
import py_compile
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tools.gen import package
from tools.local.infra_model import functions


@pytest.fixture(scope="module")
def lambda_python() -> str:
    try:
        return package.find_lambda_python()
    except package.LambdaPythonMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def function_zip(tmp_path_factory: pytest.TempPathFactory, lambda_python: str) -> Path:
    return package.build_function(tmp_path_factory.mktemp("build"), python=lambda_python)


def _magic_of(python: str) -> bytes:
    done = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(done.stdout)


@pytest.fixture(scope="module")
def unzipped(function_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("function")
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(target)
    return target


def test_same_source_gives_the_same_bytes(
    function_zip: Path, tmp_path: Path, lambda_python: str
) -> None:
    """Rebuilt elsewhere (another output directory: another path at compile time)."""
    again = package.build_function(tmp_path / "elsewhere" / "deeper", python=lambda_python)
    assert again.read_bytes() == function_zip.read_bytes()


def test_file_times_do_not_change_the_bytes(tmp_path: Path, lambda_python: str) -> None:
    source = tmp_path / "src"
    for name in package.FUNCTION_PACKAGES:
        (source / name).mkdir(parents=True)
        (source / name / "__init__.py").write_text("x = 1\n")

    def build(out: str) -> bytes:
        return package.build_function(tmp_path / out, source, python=lambda_python).read_bytes()

    first = build("a")
    os.utime(source / "common" / "__init__.py", (1_000_000_000, 1_000_000_000))
    (source / "common" / "__pycache__").mkdir()
    (source / "common" / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"junk")
    assert build("b") == first  # neither the time nor stale bytecode of the tree count
    (source / "common" / "__init__.py").write_text("x = 2\n")
    assert build("c") != first


def _bytecode_name(source: str) -> str:
    folder, _, name = source.rpartition("/")
    tag = f"cpython-{package.LAMBDA_PYTHON_VERSION.replace('.', '')}"
    return f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc".lstrip("/")


# Runs in the runtime's Python: the source hash is keyed by the interpreter's magic number.
_SOURCE_HASHES = """
import importlib.util, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.endswith(".py")]
    print(json.dumps({n: importlib.util.source_hash(z.read(n)).hex() for n in names}))
"""


def assert_bytecode_for_every_source(archive: Path, python: str) -> None:
    """Every .py has its .pyc, with the runtime version's magic number, the PEP 552
    flags of an unchecked hash-based .pyc and the source's hash; no other bytecode."""
    magic = _magic_of(python)
    done = subprocess.run(
        [python, "-c", _SOURCE_HASHES, str(archive)], capture_output=True, text=True, check=True
    )
    hashes: dict[str, str] = json.loads(done.stdout)
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        assert sources
        assert set(hashes) == set(sources)
        assert {n for n in names if n.endswith(".pyc")} == {_bytecode_name(n) for n in sources}
        for source in sources:
            header = opened.read(_bytecode_name(source))[:16]
            assert header[:4] == magic, source
            flags = int.from_bytes(header[4:8], "little")
            assert flags == 0b01, f"{source}: not unchecked-hash ({flags:#b})"
            assert header[8:16].hex() == hashes[source], f"{source}: stale bytecode"


def test_function_zip_has_runtime_bytecode_for_every_module(
    function_zip: Path, lambda_python: str
) -> None:
    assert package._python_version(lambda_python) == package.LAMBDA_PYTHON_VERSION
    assert_bytecode_for_every_source(function_zip, lambda_python)


def _fake_pip_install(command: list[str], env: dict[str, str]) -> None:
    """What pip leaves in --target, with the bytecode and scripts prune_layer drops."""
    site = Path(command[command.index("--target") + 1])
    (site / "pkg" / "sub").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("from pkg.sub import value\n")
    (site / "pkg" / "sub" / "__init__.py").write_text("value = 42\n")
    (site / "pkg" / "data.json").write_text("{}")
    (site / "pkg" / "__pycache__").mkdir()
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"stale")
    (site / "bin").mkdir()
    (site / "bin" / "tool").write_text("#!/bin/sh\n")


def test_layer_zip_has_runtime_bytecode_and_is_deterministic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lambda_python: str
) -> None:
    monkeypatch.setattr(package, "run_pip", _fake_pip_install)
    first = package.build_layer(tmp_path / "a", python=lambda_python)
    with zipfile.ZipFile(first) as opened:
        assert sorted(opened.namelist()) == [
            "python/pkg/__init__.py",
            "python/pkg/__pycache__/__init__.cpython-312.pyc",
            "python/pkg/data.json",
            "python/pkg/sub/__init__.py",
            "python/pkg/sub/__pycache__/__init__.cpython-312.pyc",
        ]
    assert_bytecode_for_every_source(first, lambda_python)
    again = package.build_layer(tmp_path / "b" / "c", python=lambda_python)
    assert again.read_bytes() == first.read_bytes()


def test_pip_location_warnings_are_silenced_and_others_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = (
        "import sys; print(\"WARNING: Location 'file:///opt/x/' is ignored: it is neither\","
        " file=sys.stderr); print('WARNING: something else', file=sys.stderr)"
    )
    package.run_pip([sys.executable, "-c", script], dict(os.environ))
    err = capsys.readouterr().err
    assert "Location" not in err
    assert "WARNING: something else" in err
    with pytest.raises(subprocess.CalledProcessError):
        package.run_pip([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))


def test_bytecode_records_the_lambda_path_not_the_build_directory(
    function_zip: Path, lambda_python: str
) -> None:
    script = (
        "import marshal, sys, zipfile\n"
        "z = zipfile.ZipFile(sys.argv[1])\n"
        "code = marshal.loads(z.read('common/__pycache__/__init__.cpython-312.pyc')[16:])\n"
        "print(code.co_filename)"
    )
    done = subprocess.run(
        [lambda_python, "-c", script, str(function_zip)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"{package.FUNCTION_ROOT}/common/__init__.py"


def test_a_missing_lambda_python_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(package.LAMBDA_PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(package.LambdaPythonMissing, match=r"needs CPython 3\.12"):
        package.find_lambda_python()
    assert package.main(["--function-only", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "DOCKHAND_LAMBDA_PYTHON" in err
    assert "pyenv install 3.12" in err
    assert not (tmp_path / "function.zip").exists()


def test_another_python_version_is_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3.11 given explicitly is refused: its bytecode would not load on 3.12."""
    monkeypatch.setenv(package.LAMBDA_PYTHON_ENV, sys.executable)
    if sys.version_info[:2] == (3, 12):
        pytest.skip("the test interpreter is 3.12 itself")
    with pytest.raises(package.LambdaPythonMissing, match=r"not a working 3\.12"):
        package.find_lambda_python()


def test_checked_or_unchecked_mode_is_what_the_header_says(
    tmp_path: Path, lambda_python: str
) -> None:
    """compile_tree writes the mode it is given (the flag the zip test relies on)."""
    (tmp_path / "m.py").write_text("x = 1\n")
    package.compile_tree(lambda_python, tmp_path, "/opt/python", mode="CHECKED_HASH")
    header = next((tmp_path / "__pycache__").glob("m.*.pyc")).read_bytes()[:8]
    assert int.from_bytes(header[4:8], "little") == 0b11
    assert py_compile.PycInvalidationMode.CHECKED_HASH.name == "CHECKED_HASH"


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
    sources = {
        path.relative_to(package.ROOT).as_posix()
        for top in package.FUNCTION_PACKAGES
        for path in (package.ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    bytecode = {_bytecode_name(name) for name in sources if name.endswith(".py")}
    assert names == sources | bytecode  # package data (templates, JSON) included
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


def test_lambda_python_loads_the_shipped_bytecode_from_a_read_only_tree(
    function_zip: Path, lambda_python: str, tmp_path: Path
) -> None:
    """As in Lambda: fresh mtimes, a read-only tree, no bytecode writes.  The source of
    the module is replaced after extraction; an unchecked-hash .pyc is loaded without
    reading it, so the import gives the shipped module, and nothing new is written."""
    task = tmp_path / "task"
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(task)
    clock = task / "common" / "runtime" / "clock.py"
    clock.write_text("raise SystemExit('the source was compiled instead of the .pyc')\n")
    for path in [*task.rglob("*"), task]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    script = "import common.runtime.clock as c; print(callable(c.set_clock))"
    try:
        done = subprocess.run(
            [lambda_python, "-S", "-B", "-c", script],
            cwd=task,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(task)},
            capture_output=True,
            text=True,
            check=False,
        )
        written = sorted(p.name for p in task.rglob("*.pyc"))
    finally:
        for path in [task, *task.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
    with zipfile.ZipFile(function_zip) as archive:
        shipped = sorted(n.rsplit("/", 1)[-1] for n in archive.namelist() if n.endswith(".pyc"))
    assert written == shipped
