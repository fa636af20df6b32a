"""Build the Lambda artefacts Terraform deploys (`make package`).

- `build/function.zip`: the code of every function (`handlers/` and `common/`
  with their package data). One zip serves all nine functions: they share
  almost all of their code (`common/`), each function's `handler` setting picks
  its entry point, and one artefact means one upload and one hash to compare.
- `build/layer.zip`: the third-party dependencies from requirements.txt,
  installed by pip for the Lambda platform (linux arm64, CPython 3.12) under
  `python/`, where Lambda puts layers on sys.path.

Both zips are deterministic: sorted entries, a fixed timestamp and fixed
permissions, and no bytecode, so the same inputs give the same bytes and
Terraform's `source_code_hash` only changes when the code does.
"""

from __future__ import annotations

import argparse
import os
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

# Never shipped: bytecode. It depends on the build machine's interpreter, and
# stale .pyc are worse than none; Lambda compiles on import.
EXCLUDED_DIR_NAMES = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def _is_shipped(relative: Path) -> bool:
    if any(part in EXCLUDED_DIR_NAMES for part in relative.parts[:-1]):
        return False
    return not relative.name.endswith(EXCLUDED_SUFFIXES)


def tree_files(base: Path, top_level: Iterable[str] | None = None) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for every shipped file under `base`, sorted by name.

    `top_level` restricts the walk to those entries of `base`."""
    roots = [base / name for name in top_level] if top_level is not None else [base]
    found: dict[str, Path] = {}
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        for path in root.rglob("*") if root.is_dir() else [root]:
            relative = path.relative_to(base)
            if path.is_file() and _is_shipped(relative):
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


def build_function(out_dir: Path = BUILD_DIR, source: Path = ROOT) -> Path:
    """build/function.zip from handlers/ and common/ (no network)."""
    return write_deterministic_zip(out_dir / "function.zip", tree_files(source, FUNCTION_PACKAGES))


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


def prune_layer(site: Path) -> None:
    """Drop what is never imported and only makes builds differ: bytecode and
    the console scripts pip writes to the top-level bin/."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for compiled in site.rglob("*.py[co]"):
        compiled.unlink()


def build_layer(out_dir: Path = BUILD_DIR, requirements: Path = ROOT / "requirements.txt") -> Path:
    """build/layer.zip: requirements.txt installed for Lambda under python/."""
    staging = out_dir / "layer"
    site = staging / "python"
    shutil.rmtree(staging, ignore_errors=True)
    site.mkdir(parents=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SOURCE_DATE_EPOCH": "315532800"}
    subprocess.run(pip_install_command(requirements, site), check=True, env=env)
    prune_layer(site)
    return write_deterministic_zip(out_dir / "layer.zip", tree_files(site), prefix="python/")


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
    built: list[Path] = []
    if not args.layer_only:
        built.append(build_function(args.out))
    if not args.function_only:
        built.append(build_layer(args.out))
    for archive in built:
        print(describe(archive))
    return 0


if __name__ == "__main__":
    sys.exit(main())
