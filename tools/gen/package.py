"""Build the Lambda artefacts Terraform deploys (`make package`).

- `build/function.zip`: the code of every function (`handlers/` and `common/`
  with their package data). One zip serves all nine functions: they share
  almost all of their code (`common/`), each function's `handler` setting picks
  its entry point, and one artefact means one upload and one hash to compare.
- `build/layer.zip`: the third-party dependencies from requirements.txt,
  installed by pip for the Lambda platform (linux arm64, CPython 3.12) under
  `python/`, where Lambda puts layers on sys.path.

Both zips carry bytecode for every `.py`, compiled by the Lambda runtime's own
Python (3.12, found on this machine: see `find_lambda_python`), as PEP 552
unchecked-hash `.pyc`.  Lambda's filesystem is read-only, so without bytecode in
the zip every cold start compiles pydantic, botocore, powertools and dockhand from
source (measured on the extracted artefacts, `events` to handler ready: 521 ms
without bytecode, 203 ms with it; docs/performance.md), and a timestamp-based `.pyc`
would not validate either: the zip keeps 2-second local times while the extracted
sources get fresh mtimes.  A hash-based `.pyc` validates whatever the file times.
Unchecked means the import trusts the `.pyc` without
re-reading and hashing the source: the zip is immutable and the `.py` and `.pyc`
come from the same build, so nothing can make them disagree, and it saves reading
and hashing every source on every cold start (3.8 MB, 2.5-7 ms of CPU for `events`;
docs/performance.md).

Both zips are deterministic: sorted entries, a fixed timestamp and fixed
permissions, and bytecode that depends only on the source and the interpreter
version (hash-based, a fixed recorded file name), so the same inputs give the same
bytes and Terraform's `source_code_hash` only changes when the code does.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"

# The packages deployed as function code; tools/ and tests/ never ship.
FUNCTION_PACKAGES = ("common", "handlers")

# Must match `local.runtime` and `local.architecture` in infra/main.tf.
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"

# 1980-01-01, the earliest time a zip entry can hold.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
UNIX_SYSTEM = 3

# Never taken from a source tree: bytecode.  What is there was written by whatever
# interpreter ran last; the zips get bytecode compiled afresh by the Lambda runtime's
# own version (compile_tree).
EXCLUDED_DIR_NAMES = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

# Where Lambda puts the code: the file names recorded in the bytecode (tracebacks show
# them; the import system corrects them to the real path when it loads a module).
FUNCTION_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"

# PEP 552: "unchecked-hash" (see the module docstring; docs/performance.md has the
# checked-vs-unchecked measurement).
INVALIDATION_MODE = "UNCHECKED_HASH"

# Set to a Python 3.12 executable to use that one instead of searching for it.
LAMBDA_PYTHON_ENV = "DOCKHAND_LAMBDA_PYTHON"


class LambdaPythonMissing(RuntimeError):
    """No interpreter of the Lambda runtime's version on this machine."""


def _python_version(executable: str) -> str | None:
    """ "3.12" for a working interpreter, None for anything else (a pyenv shim of a
    version that is not selected exits non-zero; a missing file raises)."""
    try:
        done = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _pyenv_candidates() -> list[str]:
    """python3.12 of every pyenv-installed 3.12.x, newest patch first."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip() if done.returncode == 0 else None
    if not root:
        return []
    pattern = re.compile(re.escape(LAMBDA_PYTHON_VERSION) + r"\.(\d+)")
    versions = Path(root) / "versions"
    found = [
        (int(match.group(1)), path / "bin" / f"python{LAMBDA_PYTHON_VERSION}")
        for path in (versions.iterdir() if versions.is_dir() else [])
        if (match := pattern.fullmatch(path.name))
    ]
    return [str(executable) for _, executable in sorted(found, reverse=True)]


def find_lambda_python() -> str:
    """An interpreter of the Lambda runtime's version: $DOCKHAND_LAMBDA_PYTHON, else
    `python3.12` on PATH, else a pyenv-installed 3.12.x.  Bytecode is specific to the
    minor version (its magic number), so no other version will do."""
    explicit = os.environ.get(LAMBDA_PYTHON_ENV)
    candidates = [explicit] if explicit else []
    on_path = shutil.which(f"python{LAMBDA_PYTHON_VERSION}")
    candidates += ([on_path] if on_path else []) + _pyenv_candidates()
    for candidate in candidates:
        if _python_version(candidate) == LAMBDA_PYTHON_VERSION:
            return candidate
        if candidate == explicit:
            break  # an explicit choice that does not work is an error, not a hint
    where = (
        f"${LAMBDA_PYTHON_ENV}={explicit} is not a working {LAMBDA_PYTHON_VERSION}"
        if explicit
        else f"no python{LAMBDA_PYTHON_VERSION} on PATH or under `pyenv root`/versions"
    )
    raise LambdaPythonMissing(
        f"`make package` needs CPython {LAMBDA_PYTHON_VERSION}, the Lambda runtime of "
        f"infra/main.tf, to compile the bytecode it ships ({where}). Install it "
        f"(`pyenv install {LAMBDA_PYTHON_VERSION}` or the system's "
        f"python{LAMBDA_PYTHON_VERSION} package) or set "
        f"{LAMBDA_PYTHON_ENV}=/path/to/python{LAMBDA_PYTHON_VERSION}."
    )


# Runs in the Lambda-version interpreter: compile every listed source, in this order,
# in one process.  doraise: a file that does not compile fails the build (Lambda would
# fail to import it too).
_COMPILE_SCRIPT = """
import json, py_compile, sys
request = json.load(sys.stdin)
mode = py_compile.PycInvalidationMode[request["mode"]]
for source, recorded in request["files"]:
    py_compile.compile(source, dfile=recorded, doraise=True, invalidation_mode=mode)
"""


def compile_tree(python: str, base: Path, recorded_root: str, mode: str = INVALIDATION_MODE) -> int:
    """`__pycache__/<name>.cpython-312.pyc` next to every `.py` under `base`, written
    by `python`; the file name recorded in each is `recorded_root/<relative path>`, so
    the bytes do not depend on where the build ran.  Returns how many were compiled."""
    sources = sorted(path for path in base.rglob("*.py") if path.is_file())
    files = [
        [str(path), f"{recorded_root}/{path.relative_to(base).as_posix()}"] for path in sources
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "315532800"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [python, "-I", "-c", _COMPILE_SCRIPT],
        input=json.dumps({"mode": mode, "files": files}),
        text=True,
        env=env,
        check=True,
    )
    return len(files)


def _is_shipped(relative: Path) -> bool:
    if any(part in EXCLUDED_DIR_NAMES for part in relative.parts[:-1]):
        return False
    return not relative.name.endswith(EXCLUDED_SUFFIXES)


def tree_files(
    base: Path, top_level: Iterable[str] | None = None, *, with_bytecode: bool = False
) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for every shipped file under `base`, sorted by name.

    `top_level` restricts the walk to those entries of `base`; `with_bytecode` keeps
    the `__pycache__/*.pyc` (only of a staging tree that compile_tree filled)."""
    roots = [base / name for name in top_level] if top_level is not None else [base]
    found: dict[str, Path] = {}
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        for path in root.rglob("*") if root.is_dir() else [root]:
            relative = path.relative_to(base)
            if path.is_file() and (with_bytecode or _is_shipped(relative)):
                found[relative.as_posix()] = path
    for name in sorted(found):
        yield name, found[name]


def write_deterministic_zip(
    destination: Path, files: Iterable[tuple[str, Path]], prefix: str = ""
) -> Path:
    """Write `files` as a zip whose bytes depend only on names and contents."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(destination.suffix + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, path in sorted(files, key=lambda item: item[0]):
            info = zipfile.ZipInfo(prefix + name, date_time=FIXED_DATE_TIME)
            info.external_attr = (0o100000 | FILE_MODE) << 16  # regular file, rw-r--r--
            info.create_system = UNIX_SYSTEM
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(destination)  # never leave a half-written zip where Terraform looks
    return destination


def build_function(
    out_dir: Path = BUILD_DIR, source: Path = ROOT, python: str | None = None
) -> Path:
    """build/function.zip from handlers/ and common/ plus their bytecode (no network)."""
    python = python or find_lambda_python()
    staging = out_dir / "function"
    shutil.rmtree(staging, ignore_errors=True)
    for name, path in tree_files(source, FUNCTION_PACKAGES):
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, staging / name)
    compile_tree(python, staging, FUNCTION_ROOT)
    built = write_deterministic_zip(
        out_dir / "function.zip", tree_files(staging, with_bytecode=True)
    )
    shutil.rmtree(staging)
    return built


def pip_install_command(requirements: Path, target: Path) -> list[str]:
    """pip for the Lambda platform: binary wheels only, so nothing is compiled
    for the build machine by mistake, and only PyPI packages are fetched."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--requirement",
        str(requirements),
        "--target",
        str(target),
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
    ]


# pip warns once per package about every configured index location that does not
# exist on this machine (a file:// extra index of the host's pip.conf): noise that hid
# real warnings in `make package`.  Every other line of pip's stderr is kept.
_LOCATION_WARNING = re.compile(r"WARNING: Location '[^']*' is ignored")


def run_pip(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, check=False)
    for line in done.stderr.splitlines():
        if not _LOCATION_WARNING.match(line):
            print(line, file=sys.stderr)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command)


def prune_layer(site: Path) -> None:
    """Drop what is never imported and only makes builds differ: bytecode and
    the console scripts pip writes to the top-level bin/."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for compiled in site.rglob("*.py[co]"):
        compiled.unlink()


# The AWS services common.store.aws makes clients for (tests/infra/test_package.py
# checks the code names no other).
BOTOCORE_SERVICES = ("dynamodb", "s3", "secretsmanager", "sqs")


def slim_botocore_data(data: Path, services: tuple[str, ...] = BOTOCORE_SERVICES) -> None:
    """Two changes to botocore's data that only make the first clients cheaper to create
    (measured on the artefacts, docs/performance.md, "First response"):

    - `endpoints.json` (1.2 MB, parsed whole by the first client of every process) keeps
      every partition's own data but, of its ~400 services, only those dockhand creates
      clients for: their entries are unchanged, and a service without an entry resolves
      from its partition's defaults and its endpoint rule set as botocore always does.
    - those services' gzip'd models (service-2, endpoint rule set) are stored
      uncompressed: botocore's loader looks for `.json` before `.json.gz`, so nothing
      is decompressed on a cold start.  The zip compresses them again.
    """
    endpoints_file = data / "endpoints.json"
    if not endpoints_file.is_file():  # a layer without botocore
        return
    endpoints = json.loads(endpoints_file.read_text())
    for partition in endpoints["partitions"]:
        kept = partition["services"]
        partition["services"] = {name: kept[name] for name in kept if name in services}
    endpoints_file.write_text(json.dumps(endpoints, separators=(",", ":")))
    for service in services:
        for packed in sorted((data / service).glob("*/*.json.gz")):
            packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
            packed.unlink()


def build_layer(
    out_dir: Path = BUILD_DIR,
    requirements: Path = ROOT / "requirements.txt",
    python: str | None = None,
) -> Path:
    """build/layer.zip: requirements.txt installed for Lambda under python/, with the
    bytecode of every module compiled by the Lambda runtime's Python version."""
    python = python or find_lambda_python()  # before the download: fail fast
    staging = out_dir / "layer"
    site = staging / "python"
    shutil.rmtree(staging, ignore_errors=True)
    site.mkdir(parents=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SOURCE_DATE_EPOCH": "315532800"}
    run_pip(pip_install_command(requirements, site), env)
    prune_layer(site)
    slim_botocore_data(site / "botocore" / "data")
    compile_tree(python, site, LAYER_ROOT)
    files = tree_files(site, with_bytecode=True)
    return write_deterministic_zip(out_dir / "layer.zip", files, prefix="python/")


def unzipped_size(archive: Path) -> int:
    with zipfile.ZipFile(archive) as opened:
        return sum(info.file_size for info in opened.infolist())


def describe(archive: Path) -> str:
    mib = 1024 * 1024
    return (
        f"{archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive}: "
        f"{archive.stat().st_size / mib:.2f} MiB zipped, "
        f"{unzipped_size(archive) / mib:.2f} MiB unzipped"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gen.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="output directory")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--function-only", action="store_true", help="skip the layer (offline)")
    which.add_argument("--layer-only", action="store_true", help="skip the function code")
    args = parser.parse_args(argv)
    try:
        python = find_lambda_python()
    except LambdaPythonMissing as missing:
        print(f"make package: {missing}", file=sys.stderr)
        return 2
    built: list[Path] = []
    if not args.layer_only:
        built.append(build_function(args.out, python=python))
    if not args.function_only:
        built.append(build_layer(args.out, python=python))
    for archive in built:
        print(describe(archive))
    return 0


if __name__ == "__main__":
    sys.exit(main())
