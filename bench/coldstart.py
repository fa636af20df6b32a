"""Cold start, measured the way Lambda loads the artefacts, with the source-tree figure
beside it.

Two columns per function, in one run, runs interleaved across functions and columns
(so drift on the machine hits every figure alike), medians over N fresh interpreters:

- `artefact`: build/function.zip and build/layer.zip extracted into a fresh directory
  (fresh mtimes, as Lambda's extraction gives), the tree made read-only, Python 3.12
  (the runtime's version, found as `make package` finds it) started with `-S -B` and
  PYTHONDONTWRITEBYTECODE=1, so no bytecode cache can be written: what the zips ship
  is all there is (-B is what guarantees it for root, who ignores the modes).  The
  layer's compiled extensions (pydantic-core, bcrypt: built for linux arm64) are
  swapped for this host's wheels of the same versions (downloaded once into
  build/bench/wheels); every pure-Python file and its bytecode is exactly as shipped.
  The baseline (bench/baseline, FastAPI + Mangum) is packaged the usual way,
  `pip install --target` with Python 3.12 (which compiles), and measured in place,
  read-only: its timestamp .pyc still validate there, the most favourable case for it
  (after a zip round trip they would not).
- `source`: the source tree on the bench interpreter with warm bytecode caches (one
  discarded run writes the .pyc first): the figure this bench reported before.

Per function, two figures measured inside the child from its first statement:
`import_ms` (import the handler module) and `ready_ms` (plus settings and the clients
its first request needs: dynamodb, s3 where infra/permissions.tf grants S3, and
secretsmanager where it grants the master key).  The baseline creates its DynamoDB
resource at import, as such apps do, so its two figures are one.  `vs_baseline` is
ready_ms over the baseline's ready_ms in the same column; the target is <= 0.5.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import env
from bench.artefacts import (
    BUILD,
    LAMBDA_FLAGS,
    Column,
    artefact_column,
    lambda_python,
    lambda_tree,
    scratch,
    source_column,
)
from bench.stats import median

BASELINE = "baseline (FastAPI+Mangum)"
TARGET_RATIO = 0.5
BASELINE_MODULE = "bench.baseline.app"

_READY = """
import time
_t0 = time.perf_counter_ns()
import importlib
_handler = getattr(importlib.import_module({module!r}), {attr!r})
_t1 = time.perf_counter_ns()
{clients}
_t2 = time.perf_counter_ns()
print(_t1 - _t0, _t2 - _t0)
"""
_DOCKHAND_CLIENTS = """
from common.store import aws
from common.runtime.config import settings
settings()
for _service in {services!r}:
    aws.client(_service)
"""


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    attr: str
    services: tuple[str, ...]  # empty: the baseline (its clients are made at import)

    def script(self) -> str:
        clients = _DOCKHAND_CLIENTS.format(services=self.services) if self.services else ""
        return _READY.format(module=self.module, attr=self.attr, clients=clients)


def first_request_clients(name: str, permissions: dict[str, Any]) -> tuple[str, ...]:
    """The boto3 clients a function's first request creates, from what infra grants it."""
    granted = permissions.get(name, {})
    services = ["dynamodb"]
    if granted.get("s3"):
        services.append("s3")
    if granted.get("master_key") is True:
        services.append("secretsmanager")
    return tuple(services)


def targets(function_handlers: dict[str, str], permissions: dict[str, Any]) -> list[Target]:
    """One target per function in infra/functions.tf, then the baseline."""
    found = []
    for name, dotted in function_handlers.items():
        module, _, attr = dotted.rpartition(".")
        found.append(Target(name, module, attr, first_request_clients(name, permissions)))
    found.append(Target(BASELINE, BASELINE_MODULE, "handler", ()))
    return found


FLOOR = "floor: pydantic + client"
# What every function needs whatever dockhand's own code does: pydantic (the request
# models) and one botocore DynamoDB client (its import, service model and endpoint
# rules).  Measured like a function, so the remaining gap to a target is visible.
_FLOOR_SCRIPT = """
import time
_t0 = time.perf_counter_ns()
import pydantic
_t1 = time.perf_counter_ns()
import botocore.session
botocore.session.get_session().create_client("dynamodb", region_name="us-east-1")
_t2 = time.perf_counter_ns()
print(_t1 - _t0, _t2 - _t0)
"""


@dataclass(frozen=True)
class Floor(Target):
    def script(self) -> str:
        return _FLOOR_SCRIPT


def floor_target() -> Target:
    return Floor(FLOOR, "pydantic", "", ("dynamodb",))


# --- measuring --------------------------------------------------------------------------


def _run(column: Column, side: str, script: str, extra: tuple[str, ...] = ()) -> tuple[float, Any]:
    started = time.perf_counter_ns()
    done = subprocess.run(
        [column.python, *column.flags, *extra, "-c", script],
        env=column.environment(side),
        cwd=column.cwd[side],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return (time.perf_counter_ns() - started) / 1e6, done


def _side(target: Target) -> str:
    return "baseline" if target.name == BASELINE else "dockhand"


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def top_imports(stderr: str, count: int = 6) -> list[dict[str, Any]]:
    """The `count` largest cumulative import times (`-X importtime`), one per top-level
    package, leaving out the entry modules (handlers.*, bench.*: they contain all)."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        module = match.group(4)
        if module == "importlib" or module.split(".")[0] in ("handlers", "bench"):
            continue
        rows.append({"module": module, "cumulative_ms": round(int(match.group(2)) / 1000, 1)})
    rows.sort(key=lambda r: -float(r["cumulative_ms"]))
    seen: set[str] = set()
    distinct = []
    for row in rows:  # a nested chain would repeat one cost: the largest per package
        package = str(row["module"]).split(".")[0]
        if package not in seen:
            seen.add(package)
            distinct.append(row)
    return distinct[:count]


@dataclass
class Samples:
    imports: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    error: str | None = None


def _sample(column: Column, target: Target, into: Samples) -> None:
    wall, done = _run(column, _side(target), target.script())
    if done.returncode != 0:
        into.error = (done.stderr.strip().splitlines() or ["failed"])[-1][:300]
        return
    imported, ready = (int(v) / 1e6 for v in done.stdout.split())
    into.imports.append(imported)
    into.ready.append(ready)
    into.walls.append(wall)


def measure_columns(
    columns: list[Column], all_targets: list[Target], runs: int
) -> dict[str, dict[str, Any]]:
    samples = {(c.name, t.name): Samples() for c in columns for t in all_targets}
    for column in columns:  # warm-up: page cache, and the source column's .pyc
        for target in all_targets:
            _sample(column, target, Samples())
    interpreter: dict[str, list[float]] = {c.name: [] for c in columns}
    for _ in range(runs):
        for column in columns:
            interpreter[column.name].append(_run(column, "dockhand", "pass")[0])
            for target in all_targets:
                if samples[(column.name, target.name)].error is None:
                    _sample(column, target, samples[(column.name, target.name)])
    results: dict[str, dict[str, Any]] = {}
    for column in columns:
        start_ms = median(interpreter[column.name])
        figures: dict[str, Any] = {}
        for target in all_targets:
            got = samples[(column.name, target.name)]
            if got.error is not None or not got.ready:
                figures[target.name] = {"available": False, "note": f"error: {got.error}"}
                continue
            figures[target.name] = {
                "available": True,
                "import_ms": round(median(got.imports), 1),
                "ready_ms": round(median(got.ready), 1),
                "process_ms": round(median(got.walls) - start_ms, 1),
            }
        _add_ratios(figures)
        results[column.name] = {"interpreter_start_ms": round(start_ms, 1), "functions": figures}
    return results


def _add_ratios(figures: dict[str, Any]) -> None:
    baseline = figures.get(BASELINE, {})
    if not baseline.get("available"):
        return
    for name, result in figures.items():
        if name != BASELINE and result.get("available"):
            result["vs_baseline"] = round(result["ready_ms"] / baseline["ready_ms"], 2)
            result["meets_target"] = result["vs_baseline"] <= TARGET_RATIO


def importtime(column: Column, target: Target) -> list[dict[str, Any]]:
    _, traced = _run(column, _side(target), target.script(), ("-X", "importtime"))
    return top_imports(traced.stderr)


# --- bytecode variants ----------------------------------------------------------------


BYTECODE_VARIANTS = ("none", "checked-hash", "shipped")


def measure_bytecode(python: str, target: Target, runs: int) -> dict[str, Any]:
    """One function from the artefacts without bytecode (the zips before #17), with
    checked-hash and with the shipped unchecked-hash .pyc, interleaved."""
    with scratch("dockhand-bytecode-") as work:
        columns = []
        for variant in BYTECODE_VARIANTS:
            root = work / variant
            lambda_tree(root, python, variant)
            paths = [root / "task", root / "opt" / "python"]
            columns.append(
                Column(
                    variant,
                    python,
                    LAMBDA_FLAGS,
                    {"dockhand": paths},
                    {"dockhand": root / "task"},
                    True,
                )
            )
        results = measure_columns(columns, [target], runs)
    return {
        "function": target.name,
        "runs": runs,
        "variants": {name: results[name]["functions"][target.name] for name in BYTECODE_VARIANTS},
    }


def _permissions() -> dict[str, Any]:
    from tools.local import infra_model

    permissions: dict[str, Any] = infra_model.load("permissions.tf")["locals"][0]["permissions"]
    return permissions


def measure(function_handlers: dict[str, str], runs: int) -> dict[str, Any]:
    """Cold-start figures for every function and the baseline, both columns."""
    all_targets = targets(function_handlers, _permissions())
    missing = [name for name in ("function.zip", "layer.zip") if not (BUILD / name).exists()]
    columns = [source_column()]
    notes: list[str] = []
    with scratch("dockhand-coldstart-") as work:
        if missing:
            notes.append(f"artefact column not measured: build/{missing[0]} missing (make package)")
        else:
            try:
                columns.insert(0, artefact_column(work, lambda_python()))
            except Exception as exc:  # a missing 3.12 must not stop the other sections
                notes.append(f"artefact column not measured: {exc}"[:400])
        measured = [*all_targets, floor_target()]
        results = measure_columns(columns, measured, runs)
        traced = columns[0]
        for target in measured:
            entry = results[traced.name]["functions"][target.name]
            if entry.get("available"):
                entry["top_imports"] = importtime(traced, target)
        bytecode: dict[str, Any] = {"available": False, "note": "artefact column not measured"}
        if traced.name == "artefact":
            bytecode = measure_bytecode(traced.python, all_targets[0], max(3, runs // 2))
    return {
        "runs": runs,
        "target": f"every function's ready_ms <= {TARGET_RATIO} x the baseline's (artefact)",
        "columns": {c.name: {**results[c.name], "how": c.notes} for c in columns},
        "clients": {t.name: list(t.services) for t in all_targets if t.services},
        "bytecode": bytecode,
        "notes": notes,
    }


def format_lines(section: dict[str, Any]) -> list[str]:
    """The cold-start table of `make bench`: both columns side by side."""
    columns = section.get("columns", {})
    art = columns.get("artefact", {}).get("functions", {})
    src = columns.get("source", {}).get("functions", {})
    lines = [
        f"1. Cold start (median of {section.get('runs')} fresh interpreters, ms inside the"
        " child; ready = import + settings + first-request clients)",
    ]
    for column in columns.values():
        lines += [f"   {column['how'][0]}", *(f"     {n}" for n in column["how"][1:])]
    lines.append(
        f"   {'function':<27}{'import':>8}{'ready':>8}{'vs base':>9}  {'target':<8}"
        f"{'source':>8}{'vs base':>9}"
    )
    for name in src or art:
        a, s = art.get(name, {}), src.get(name, {})
        if not a.get("available") and not s.get("available"):
            lines.append(f"   {name:<27}{a.get('note') or s.get('note', 'not available')}")
            continue
        verdict = "" if "meets_target" not in a else ("met" if a["meets_target"] else "NOT met")
        lines.append(
            f"   {name:<27}{_num(a, 'import_ms'):>8}{_num(a, 'ready_ms'):>8}"
            f"{_num(a, 'vs_baseline', '.2f'):>9}  {verdict:<8}"
            f"{_num(s, 'ready_ms'):>8}{_num(s, 'vs_baseline', '.2f'):>9}"
        )
    lines += [f"   note: {note}" for note in section.get("notes", [])]
    bytecode = section.get("bytecode", {})
    if bytecode.get("variants"):
        lines.append(
            f"   bytecode ({bytecode['function']}, artefacts, median of {bytecode['runs']}):"
        )
        for name, r in bytecode["variants"].items():
            label = {"none": "no .pyc (before)", "shipped": "unchecked-hash (shipped)"}
            lines.append(
                f"     {label.get(name, name):<27}import {_num(r, 'import_ms'):>7}"
                f"  ready {_num(r, 'ready_ms'):>7}"
            )
    return lines


def _num(result: dict[str, Any], key: str, spec: str = ".1f") -> str:
    value = result.get(key)
    return "-" if value is None else format(value, spec)


def main() -> int:  # pragma: no cover - `python -m bench.coldstart` for a quick look
    env.apply()
    from tools.local import infra_model

    handlers = {name: spec.handler for name, spec in infra_model.functions().items()}
    section = measure(handlers, int(os.environ.get("COLD_RUNS", "5")))
    print("\n".join(format_lines(section)))
    print(json.dumps(section, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
