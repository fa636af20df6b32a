"""First response: what a user of a cold container waits for, beside the baseline.

A fresh process per sample, from the same artefacts and interpreter as the cold-start
section's `artefact` column (build/*.zip extracted, read-only, Python 3.12 -S -B;
the baseline `pip install --target`, read-only), with the DEPLOYED settings
(`DOCKHAND_MASTER_KEY_SECRET_ID` where Terraform sets it, no `DOCKHAND_MASTER_KEY`),
against moto's server over HTTP (bench/scenarios.py).  Measured inside the child from
its first statement: `init` (the handler's import: what Lambda's init runs, the master
key read included where the function is granted it) and `first` (init plus answering
one representative request: auth, the first AWS calls on fresh connections, the
handler's work).  The baseline answers its POST /events the same way.

An API key's first use in a container runs one bcrypt check (common/access/auth.py:
verified keys are cached per container for at most 60 s, and a cold container's cache
is empty), at the cost its stored hash names.  So each keyed request is measured with
two keys, interleaved: one hashed at cost 4 (`auth.BCRYPT_COST`, every key made since
the hardening work, ~1 ms) and one at cost 12 (keys made before it keep their hash,
~240 ms quiet).  The baseline caches verified keys the same way, so it too runs bcrypt
once per cold container at its key's cost, and each dockhand figure is compared with
the baseline's at the same key cost; a request without a key with both.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import artefacts, coldstart, scenarios
from bench.stats import median

TARGET_RATIO = 0.5
BASELINE = "baseline (FastAPI+Mangum)"


@dataclass(frozen=True)
class Variant:
    name: str
    cost: int  # the bcrypt cost of the key's stored hash (the key presented, if any)


COST_12 = Variant("cost 12", 12)  # a key made before the hardening work
COST_4 = Variant("cost 4", 4)  # a key made now (auth.BCRYPT_COST)
NO_KEY = Variant("no key", 4)  # the route takes no API key: no bcrypt at all
KEYED = (COST_12, COST_4)
UNKEYED = (NO_KEY,)
BASELINE_VARIANTS = (COST_12, COST_4)


@dataclass(frozen=True)
class Job:
    target: str
    handler: str
    scenario: scenarios.Scenario
    side: str  # "dockhand" | "baseline"
    master_key: bool
    variant: Variant


@dataclass
class Samples:
    init: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # the round of each sample
    wall: list[float] = field(default_factory=list)
    statuses: set[int | None] = field(default_factory=set)
    bcrypt_checks: set[int | None] = field(default_factory=set)
    boto3: bool = False
    error: str | None = None


def jobs(function_handlers: dict[str, str], permissions: dict[str, Any]) -> list[Job]:
    """One round: every function's cases, with the baseline's at the start, the middle
    and the end, so each ratio divides by baseline samples taken close in time."""
    cases = scenarios.scenarios(_NO_IDS)  # only labels and auth are read here
    plan = []
    for name, handler in function_handlers.items():
        case = cases.get(name)
        if case is None:
            continue
        master_key = permissions.get(name, {}).get("master_key") is True
        for variant in KEYED if case.auth else UNKEYED:
            plan.append(Job(name, handler, case, "dockhand", master_key, variant))
    baseline = [
        Job(BASELINE, "bench.baseline.app.handler", scenarios.BASELINE, "baseline", False, v)
        for v in BASELINE_VARIANTS
    ]
    middle = len(plan) // 2
    return [*baseline, *plan[:middle], *baseline, *plan[middle:], *baseline]


_NO_IDS = {"inbox_cursor": "", "notes_cursor": "", "agent_id": "", "agent_secret": ""}


class Runner:
    """Runs jobs in fresh processes against the emulator, with real request data."""

    def __init__(
        self, column: artefacts.Column, endpoint: str, keys: dict[int, str], ids: dict[str, str]
    ) -> None:
        self.column, self.endpoint, self.keys = column, endpoint, keys
        self.cases = scenarios.scenarios(ids)

    def command(
        self, job: Job, extra: tuple[str, ...] = ()
    ) -> tuple[list[str], dict[str, str], Path]:
        key = self.keys[job.variant.cost]
        case = self.cases.get(job.target, job.scenario)
        script = scenarios.child_script(job.handler, case.build(key))
        environment = scenarios.deployed_env(
            self.column.environment(job.side), self.endpoint, job.master_key
        )
        argv = [self.column.python, *self.column.flags, *extra, "-c", script]
        return argv, environment, self.column.cwd[job.side]

    def sample(self, job: Job, into: Samples, round_number: int = -1) -> None:
        argv, environment, cwd = self.command(job)
        started = time.perf_counter_ns()
        done = subprocess.run(
            argv, env=environment, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
        )
        wall = (time.perf_counter_ns() - started) / 1e6
        try:
            result = scenarios.child_result(done.stdout)
        except ValueError:
            into.error = (done.stderr.strip().splitlines() or ["failed"])[-1][:300]
            return
        into.init.append(result["init_ns"] / 1e6)
        into.rounds.append(round_number)
        into.first.append(result["first_ns"] / 1e6)
        into.wall.append(wall)
        into.statuses.add(result["status"])
        into.bcrypt_checks.add(result.get("bcrypt_checks"))
        into.boto3 = into.boto3 or bool(result["boto3"])

    def importtime(self, job: Job) -> list[dict[str, Any]]:
        argv, environment, cwd = self.command(job, ("-X", "importtime"))
        done = subprocess.run(
            argv, env=environment, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
        )
        return coldstart.top_imports(done.stderr)


def run_jobs(runner: Runner, plan: list[Job], runs: int) -> dict[tuple[str, str], Samples]:
    samples = {(j.target, j.variant.name): Samples() for j in plan}
    for job in plan:  # warm-up: page cache, the emulator's first requests
        runner.sample(job, Samples())
    for round_number in range(runs):
        for job in plan:
            got = samples[(job.target, job.variant.name)]
            if got.error is None:
                runner.sample(job, got, round_number)
    return samples


def summarise(plan: list[Job], samples: dict[tuple[str, str], Samples]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for job in plan:
        got = samples[(job.target, job.variant.name)]
        row = rows.setdefault(job.target, {"route": job.scenario.label, "variants": {}})
        if got.error is not None or not got.first:
            row["variants"][job.variant.name] = {"available": False, "note": f"error: {got.error}"}
            continue
        row["variants"][job.variant.name] = {
            "available": True,
            "init_ms": round(median(got.init), 1),
            "first_ms": round(median(got.first), 1),
            "process_ms": round(median(got.wall), 1),
            "statuses": sorted(s for s in got.statuses if s is not None),
            # what the variant did: 1 bcrypt check with a key (a fresh process), 0 without
            "bcrypt_checks": sorted(c for c in got.bcrypt_checks if c is not None),
            "imports_boto3": got.boto3,
        }
    _add_ratios(rows, samples)
    return rows


def _round_ratio(mine: Samples, base: Samples, which: str) -> float | None:
    """The median over rounds of (this sample / the median of the baseline's samples of
    the same round): drift on a shared machine hits both sides of each ratio alike."""
    ratios = []
    for value, number in zip(getattr(mine, which), mine.rounds, strict=True):
        reference = [
            v for v, n in zip(getattr(base, which), base.rounds, strict=True) if n == number
        ]
        if reference:
            ratios.append(value / median(reference))
    return round(median(ratios), 2) if ratios else None


def _add_ratios(rows: dict[str, Any], samples: dict[tuple[str, str], Samples]) -> None:
    for name, row in rows.items():
        if name == BASELINE:
            continue
        for variant, figures in row["variants"].items():
            if not figures.get("available"):
                continue
            mine = samples[(name, variant)]
            costs = (12, 4) if variant == NO_KEY.name else (int(variant.split()[-1]),)
            for cost in costs:
                base = samples.get((BASELINE, f"cost {cost}"))
                if base is None or not base.first:
                    continue
                figures[f"first_vs_baseline_{cost}"] = _round_ratio(mine, base, "first")
                figures["init_vs_baseline"] = _round_ratio(mine, base, "init")


def measure(function_handlers: dict[str, str], runs: int) -> dict[str, Any]:
    """First-response figures for every function with a scenario, and the baseline."""
    permissions = coldstart._permissions()
    plan = jobs(function_handlers, permissions)
    missing = [n for n in function_handlers if n not in scenarios.scenarios(_NO_IDS)]
    with artefacts.scratch("dockhand-first-") as work, scenarios.emulator() as endpoint:
        column = _column(work)
        keys = {12: scenarios.create_key(12), 4: scenarios.create_key(4)}
        runner = Runner(column, endpoint, keys, scenarios.prepare(keys[4]))
        samples = run_jobs(runner, plan, runs)
        rows = summarise(plan, samples)
        traced: set[Job] = set()
        for job in plan:
            if job in traced:
                continue
            traced.add(job)
            if job.variant in (COST_4, NO_KEY):  # what a key made now (or none) imports
                rows[job.target]["variants"][job.variant.name]["top_imports"] = runner.importtime(
                    job
                )
    return {
        "runs": runs,
        "how": column.notes,
        "target": f"first_ms <= {TARGET_RATIO} x the baseline's at the same key cost",
        "functions": rows,
        "notes": [f"no representative request yet for: {', '.join(missing)}"] if missing else [],
    }


def _column(work: Path) -> artefacts.Column:
    """The artefact column of the cold-start section; the source tree without a build."""
    if (artefacts.BUILD / "function.zip").exists() and (artefacts.BUILD / "layer.zip").exists():
        return artefacts.artefact_column(work, artefacts.lambda_python())
    return artefacts.source_column()


def format_lines(section: dict[str, Any], cold_start: dict[str, Any] | None = None) -> list[str]:
    """Both ratios per function: handler ready (the cold-start section's, when it is in
    the same report, and this section's init) and first response per key case."""
    ready = (cold_start or {}).get("columns", {}).get("artefact", {}).get("functions", {})
    lines = [
        f"8. First response (median of {section.get('runs')} fresh processes, ms inside the child;"
        " deployed settings, emulator over HTTP)",
        *(f"   {note}" for note in section.get("how", [])),
        "   ready = cold-start section's handler-ready ratio; init = import with the deployed",
        "   settings (master key read); first = init + the first request answered; vs = / the",
        "   baseline's at the same bcrypt cost (a key made before the hardening work: 12; now: 4;",
        "   one check per cold container); no API key: its one request against both",
        f"   {'function':<15}{'ready':>6}{'init':>7}{'vs':>6} |{'cost 12':>8}{'vs':>6} |"
        f"{'cost 4':>8}{'vs':>6} | route",
    ]
    for name, row in section.get("functions", {}).items():
        v = row["variants"]
        keyed = NO_KEY.name not in v
        cost_12 = v.get(COST_12.name) or v.get(NO_KEY.name) or {}
        cost_4 = v.get(COST_4.name) or v.get(NO_KEY.name) or {}
        lines.append(
            f"   {name[:15]:<15}{_num(ready.get(name, {}), 'vs_baseline', '.2f'):>6}"
            f"{_num(cost_4, 'init_ms', '.0f'):>7}{_num(cost_4, 'init_vs_baseline', '.2f'):>6} |"
            f"{_num(cost_12, 'first_ms', '.0f'):>8}"
            f"{_num(cost_12, 'first_vs_baseline_12', '.2f'):>6} |"
            f"{_num(cost_4, 'first_ms', '.0f'):>8}"
            f"{_num(cost_4, 'first_vs_baseline_4', '.2f'):>6} | {row['route']}"
            + ("" if keyed else " (no API key)")
        )
        lines += [f"     {n}: {f['note']}" for n, f in v.items() if not f.get("available")]
        if any(f.get("imports_boto3") for f in v.values()) and name != BASELINE:
            lines.append(f"     {name}: imports boto3 on its way to the first response")
    lines += [f"   note: {note}" for note in section.get("notes", [])]
    return lines


def _num(result: dict[str, Any], key: str, spec: str) -> str:
    value = result.get(key)
    return "-" if value is None else format(value, spec)
