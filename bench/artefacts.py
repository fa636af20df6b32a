"""The ways of loading dockhand's code that the cold-start and first-response benches
measure (a `Column`): the source tree on the bench interpreter, or the build zips
extracted Lambda-like (`artefact_column`: fresh mtimes, read-only, Python 3.12 with
`-S -B`, this host's compiled extensions swapped in), with the baseline packaged the
usual way beside them."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import env

BUILD = env.REPO_ROOT / "build"
WHEEL_CACHE = BUILD / "bench" / "wheels"
BASELINE_CACHE = BUILD / "bench"
BASELINE_REQUIREMENTS = env.REPO_ROOT / "bench" / "baseline" / "requirements.txt"


@dataclass
class Column:
    """One way of loading the code: an interpreter, its flags and its sys.path."""

    name: str
    python: str
    flags: tuple[str, ...]
    paths: dict[str, list[Path]]  # "dockhand" / "baseline" -> sys.path entries
    cwd: dict[str, Path]
    no_bytecode_writes: bool
    notes: list[str] = field(default_factory=list)

    def environment(self, side: str) -> dict[str, str]:
        variables = env.lambda_like_env()
        variables["PYTHONPATH"] = os.pathsep.join(str(p) for p in self.paths[side])
        variables["LAMBDA_TASK_ROOT"] = str(self.cwd[side])
        if self.no_bytecode_writes:
            variables["PYTHONDONTWRITEBYTECODE"] = "1"
        return variables


# --- the Lambda-like tree --------------------------------------------------------------


def _extract(archive: Path, destination: Path) -> None:
    # zipfile does not restore the entries' times: every file gets a fresh mtime, as
    # in a Lambda container, so a timestamp-based .pyc could not validate.
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(destination)


def make_read_only(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.is_symlink():
            path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)


def make_writable(root: Path) -> None:
    if not root.exists():
        return
    root.chmod(0o755)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        make_writable(directory)
        shutil.rmtree(directory, ignore_errors=True)


# --- the layer's compiled extensions, swapped for this host's ---------------------------


@dataclass(frozen=True)
class NativeDist:
    name: str
    version: str
    files: tuple[str, ...]  # relative to the site directory


def _is_native(relative: str) -> bool:
    return relative.endswith(".so") or ".libs/" in relative


def native_dists(site: Path) -> list[NativeDist]:
    """The installed distributions (from their RECORD) that ship compiled files."""
    found = []
    for dist_info in sorted(site.glob("*.dist-info")):
        rows = (dist_info / "RECORD").read_text().splitlines()
        native = tuple(sorted(r.split(",")[0] for r in rows if _is_native(r.split(",")[0])))
        if not native:
            continue
        metadata = (dist_info / "METADATA").read_text().splitlines()
        fields = dict(line.split(": ", 1) for line in metadata if ": " in line)
        found.append(NativeDist(fields["Name"], fields["Version"], native))
    return found


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def host_wheel(python: str, dist: NativeDist, cache: Path = WHEEL_CACHE) -> Path:
    """This host's wheel of `dist` for `python` (pip download once, then the cache)."""
    machine = platform.machine()
    prefix = f"{_normalised(dist.name)}-{dist.version}-"
    cached = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(prefix))
    for wheel in cached:
        if machine in wheel.name:
            return wheel
    cache.mkdir(parents=True, exist_ok=True)
    from tools.gen.package import run_pip

    run_pip(
        [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--no-deps",
            "--dest",
            str(cache),
            f"{dist.name}=={dist.version}",
        ],
        dict(os.environ),
    )
    return host_wheel_from_cache(prefix, machine, cache)


def host_wheel_from_cache(prefix: str, machine: str, cache: Path) -> Path:
    for wheel in sorted(cache.glob("*.whl")):
        if wheel.name.lower().startswith(prefix) and machine in wheel.name:
            return wheel
    raise FileNotFoundError(f"no {machine} wheel {prefix}* in {cache}")


def swap_native_extensions(site: Path, python: str) -> list[str]:
    """Replace the compiled files of every native distribution in `site` by this host's
    build of the same version; the .py files and their .pyc stay as shipped."""
    swapped = []
    for dist in native_dists(site):
        for relative in dist.files:
            (site / relative).unlink(missing_ok=True)
        with zipfile.ZipFile(host_wheel(python, dist)) as wheel:
            for name in wheel.namelist():
                if _is_native(name):
                    wheel.extract(name, site)
        swapped.append(f"{dist.name}=={dist.version}")
    return swapped


# --- the baseline, packaged the usual way ----------------------------------------------


def baseline_install(python: str) -> Path:
    """`pip install --target` of the baseline's stack with Python 3.12 (it compiles, with
    timestamps), plus its own code compiled the same way; cached by requirements."""
    text = BASELINE_REQUIREMENTS.read_text() + (env.REPO_ROOT / "requirements.txt").read_text()
    digest = hashlib.sha256((text + platform.machine()).encode()).hexdigest()[:12]
    target = BASELINE_CACHE / f"baseline-{digest}"
    if (target / ".complete").exists():
        return target
    make_writable(target)
    shutil.rmtree(target, ignore_errors=True)
    from tools.gen.package import run_pip

    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run_pip([*install, "--target", str(target), "-r", str(BASELINE_REQUIREMENTS)], dict(os.environ))
    code = target / "bench" / "baseline"
    code.mkdir(parents=True)
    for name in ("__init__.py", "app.py"):
        shutil.copyfile(env.REPO_ROOT / "bench" / "baseline" / name, code / name)
    (target / "bench" / "__init__.py").write_text("")
    subprocess.run([python, "-m", "compileall", "-q", str(target / "bench")], check=True)
    (target / ".complete").write_text("")
    make_read_only(target)
    return target


# --- the columns ------------------------------------------------------------------------


def source_column() -> Column:
    return Column(
        name="source",
        python=sys.executable,
        flags=(),
        paths={"dockhand": [env.REPO_ROOT], "baseline": [env.REPO_ROOT]},
        cwd={"dockhand": env.REPO_ROOT, "baseline": env.REPO_ROOT},
        no_bytecode_writes=False,
        notes=[f"source tree, Python {platform.python_version()}, warm bytecode caches"],
    )


def lambda_tree(work: Path, python: str, bytecode: str = "shipped") -> list[str]:
    """build/*.zip extracted into work/task and work/opt/python, host extensions swapped
    in, read-only.  `bytecode`: "shipped" (as in the zips), "none" (every .pyc removed:
    what the zips held before #17) or "checked-hash" (recompiled in PEP 552's checked
    mode, to compare with the shipped unchecked one).  Returns the swapped dists."""
    task, site = work / "task", work / "opt" / "python"
    _extract(BUILD / "function.zip", task)
    _extract(BUILD / "layer.zip", work / "opt")
    swapped = swap_native_extensions(site, python)
    if bytecode != "shipped":
        for cache in sorted([*task.rglob("__pycache__"), *site.rglob("__pycache__")]):
            shutil.rmtree(cache)
    if bytecode == "checked-hash":
        from tools.gen import package

        package.compile_tree(python, task, package.FUNCTION_ROOT, mode="CHECKED_HASH")
        package.compile_tree(python, site, package.LAYER_ROOT, mode="CHECKED_HASH")
    make_read_only(work)
    return swapped


def _python_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# -S: nothing from this host's site-packages; -B with a read-only tree: no bytecode can
# be written, so only what the zips ship is used.
LAMBDA_FLAGS = ("-S", "-B")


def artefact_column(work: Path, python: str) -> Column:
    """The zips extracted under `work` (task/ and opt/python/), read-only."""
    swapped = lambda_tree(work, python)
    baseline = baseline_install(python)
    return Column(
        name="artefact",
        python=python,
        flags=LAMBDA_FLAGS,
        paths={"dockhand": [work / "task", work / "opt" / "python"], "baseline": [baseline]},
        cwd={"dockhand": work / "task", "baseline": baseline},
        no_bytecode_writes=True,
        notes=[
            f"build/*.zip extracted, read-only, Python {_python_version(python)} -S -B",
            f"host wheels swapped in for: {', '.join(swapped) or 'nothing'}",
            "baseline: pip install --target (Python 3.12, compiled), read-only, in place",
        ],
    )


def lambda_python() -> str:
    from tools.gen.package import find_lambda_python

    return find_lambda_python()
