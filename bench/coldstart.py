"""Cold start: a fresh interpreter per run, as a new Lambda container has.

Two figures per function, medians over N runs interleaved across functions (so
drift on the machine hits every function alike):
- `init_ms`: measured inside the child from its first statement to "handler
  ready": import the handler module, load the settings, create the boto3
  clients the function uses.  Excludes the interpreter's own start.
- `process_ms`: wall time of the whole child minus the median wall time of
  `python -c pass` in the same environment (the interpreter's fixed start cost).
Children run with LAMBDA_TASK_ROOT set so powertools behaves as in Lambda (the
baseline's Tracer patches boto3 for X-Ray there). One discarded run per target
writes the .pyc files first, so every measured run reads compiled bytecode.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import env
from bench.stats import median

# boto3 clients each function creates on its request path (what it needs warm).
FUNCTION_CLIENTS: dict[str, tuple[str, ...]] = {
    "events": ("dynamodb",),
    "inbox": ("dynamodb",),
    "notes": ("dynamodb",),
    "hydrate": ("dynamodb", "s3"),
    "rehydrate": ("dynamodb", "s3"),
    "mcp": ("dynamodb", "s3"),
    "heartbeat": ("dynamodb",),
    "status": ("dynamodb",),
    "sweeper": ("dynamodb",),
    "rollup": ("dynamodb",),
}
BASELINE = "baseline (FastAPI+Mangum)"

_DOCKHAND_READY = """
import time
_t0 = time.perf_counter_ns()
import importlib
_handler = getattr(importlib.import_module({module!r}), {attr!r})
from common.store import aws
from common.runtime.config import settings
settings()
for _service in {services!r}:
    aws.client(_service)
print(time.perf_counter_ns() - _t0)
"""

_BASELINE_READY = """
import time
_t0 = time.perf_counter_ns()
from bench.baseline.app import handler as _handler
print(time.perf_counter_ns() - _t0)
"""


@dataclass(frozen=True)
class Target:
    name: str
    script: str | None  # None: the handler module does not exist yet


def targets(function_handlers: dict[str, str]) -> list[Target]:
    """One target per function in infra/functions.tf, plus the baseline."""
    found = []
    for name, dotted in function_handlers.items():
        module, _, attr = dotted.rpartition(".")
        if importlib.util.find_spec(module) is None:
            found.append(Target(name, None))
            continue
        services = FUNCTION_CLIENTS.get(name, ("dynamodb",))
        script = _DOCKHAND_READY.format(module=module, attr=attr, services=services)
        found.append(Target(name, script))
    found.append(Target(BASELINE, _BASELINE_READY))
    return found


Completed = subprocess.CompletedProcess[str]


def _run(script: str, extra_args: tuple[str, ...] = ()) -> tuple[float, Completed]:
    started = time.perf_counter_ns()
    done = subprocess.run(
        [sys.executable, *extra_args, "-c", script],
        env=env.lambda_like_env(),
        cwd=env.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return (time.perf_counter_ns() - started) / 1e6, done


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def top_imports(stderr: str, skip: tuple[str, ...], count: int = 5) -> list[dict[str, Any]]:
    """The `count` largest cumulative import times (`-X importtime`), one per top-level
    package, leaving out the measured entry modules themselves (they contain everything)."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        module = match.group(4)
        if module in skip or any(module.startswith(f"{s}.") for s in ("handlers", "bench")):
            continue
        rows.append({"module": module, "cumulative_ms": round(int(match.group(2)) / 1000, 1)})
    rows.sort(key=lambda r: -float(r["cumulative_ms"]))
    # A nested chain (common.x -> common.store.ddb -> boto3.dynamodb -> boto3) would fill
    # the list with one cost five times: keep the largest entry per top-level package.
    seen: set[str] = set()
    distinct = []
    for row in rows:
        package = str(row["module"]).split(".")[0]
        if package not in seen:
            seen.add(package)
            distinct.append(row)
    return distinct[:count]


def measure(function_handlers: dict[str, str], runs: int) -> dict[str, Any]:
    """Cold-start figures for every function and the baseline."""
    all_targets = targets(function_handlers)
    ready = [t for t in all_targets if t.script is not None]
    errors: dict[str, str] = {}
    for target in ready:  # warm-up: compile .pyc, fill the page cache
        _, done = _run(target.script or "")
        if done.returncode != 0:
            errors[target.name] = (done.stderr.strip().splitlines() or ["failed"])[-1][:300]
    measured = [t for t in ready if t.name not in errors]
    interpreter: list[float] = []
    walls: dict[str, list[float]] = {t.name: [] for t in measured}
    inits: dict[str, list[float]] = {t.name: [] for t in measured}
    for _ in range(runs):
        interpreter.append(_run("pass")[0])
        for target in measured:
            wall, done = _run(target.script or "")
            walls[target.name].append(wall)
            inits[target.name].append(int(done.stdout.strip().splitlines()[-1]) / 1e6)
    interpreter_ms = median(interpreter)
    results: dict[str, Any] = {}
    for target in all_targets:
        if target.script is None:
            results[target.name] = {"available": False, "note": "not available yet"}
            continue
        if target.name in errors:
            results[target.name] = {"available": False, "note": f"error: {errors[target.name]}"}
            continue
        _, traced = _run(target.script, ("-X", "importtime"))
        results[target.name] = {
            "available": True,
            "runs": runs,
            "process_ms": round(median(walls[target.name]) - interpreter_ms, 1),
            "init_ms": round(median(inits[target.name]), 1),
            "top_imports": top_imports(traced.stderr, skip=("importlib",)),
        }
    baseline = results.get(BASELINE, {})
    for name, result in results.items():
        if name != BASELINE and result.get("available") and baseline.get("available"):
            result["vs_baseline"] = round(result["process_ms"] / baseline["process_ms"], 2)
            result["meets_target"] = result["vs_baseline"] <= 0.5
    return {
        "interpreter_start_ms": round(interpreter_ms, 1),
        "target": "every dockhand function <= 50% of the baseline's process_ms",
        "functions": results,
    }
