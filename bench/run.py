"""`make bench`: dockhand against a FastAPI + Mangum baseline, measured side by side
in one run on one machine. Prints a table and writes docs/bench.json.

    .bench-venv/bin/python -m bench.run [--quick] [--output docs/bench.json]

Run it with .bench-venv (make bench creates it): the baseline's FastAPI, Mangum and
X-Ray SDK live there, never in .venv or the Lambda layer."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import env

env.apply()  # before any dockhand module reads its settings

from bench import (  # noqa: E402 - the environment must be set first
    coldstart,
    firstresponse,
    inbox_scale,
    machine,
    packages,
    redaction,
    render_cost,
    roundtrips,
    warm,
)


@dataclass(frozen=True)
class Sizes:
    cold_runs: int
    first_runs: int
    warm_calls: int
    inbox_backlogs: tuple[int, ...]
    render_files: tuple[int, ...]
    render_repeats: int


# Inbox backlogs stop at 10,000: since leases, the in-process emulator's memory grows
# with every lease over a large table (a 30,000 run passed 7 GiB, 100,000 ran out of
# 24 GiB); DynamoDB's cost is what is measured, and it is flat from 100 to 10,000.
FULL = Sizes(10, 5, 1000, (100, 10_000), (100, 1_000, 10_000), 5)
QUICK = Sizes(5, 3, 200, (100, 2_000), (100, 1_000), 3)


def _section(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"... {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = work()
    result["section_seconds"] = round(time.perf_counter() - started, 1)
    return result


def _function_handlers() -> dict[str, str]:
    from tools.local import infra_model

    return {name: spec.handler for name, spec in infra_model.functions().items()}


def run(sizes: Sizes, quick: bool) -> dict[str, Any]:
    return {
        "machine": machine.describe(),
        "mode": "quick" if quick else "full",
        "cold_start": _section(
            "cold start", lambda: coldstart.measure(_function_handlers(), sizes.cold_runs)
        ),
        "first_response": _section(
            "first response",
            lambda: firstresponse.measure(_function_handlers(), sizes.first_runs),
        ),
        "warm_overhead": _section("warm overhead", lambda: warm.measure(sizes.warm_calls)),
        "round_trips": _section("round trips", roundtrips.measure),
        "inbox_scale": _section("inbox scale", lambda: inbox_scale.measure(sizes.inbox_backlogs)),
        "render": _section(
            "render", lambda: render_cost.measure(sizes.render_files, sizes.render_repeats)
        ),
        "packages": _section("packages", packages.measure),
        "redaction": _section("redaction", redaction.measure),
    }


def _rerunnable(sizes: Sizes) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    return {
        "cold_start": (
            "cold start",
            lambda: coldstart.measure(_function_handlers(), sizes.cold_runs),
        ),
        "first_response": (
            "first response",
            lambda: firstresponse.measure(_function_handlers(), sizes.first_runs),
        ),
        "warm_overhead": ("warm overhead", lambda: warm.measure(sizes.warm_calls)),
        "redaction": ("redaction", redaction.measure),
    }


RERUNNABLE = ("cold_start", "first_response", "warm_overhead", "redaction")


def rerun_section(name: str, sizes: Sizes, previous: dict[str, Any]) -> dict[str, Any]:
    """`--only <section>`: re-measure that section alone and put it in the previous
    report; the section carries its own machine and date (the others keep theirs)."""
    label, work = _rerunnable(sizes)[name]
    section = _section(label, work)
    section["machine"] = machine.describe()
    return {**previous, name: section}


def _machine_line(m: dict[str, Any]) -> str:
    load = f", load {m['load_average_1m']}" if "load_average_1m" in m else ""
    return (
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, {m['date']}{load}"
    )


def format_section(name: str, report: dict[str, Any]) -> str:
    """`--only <section>`: that section alone, with the machine it was measured on;
    the whole report where the other sections are there to print."""
    section = report[name]
    if name == "cold_start":
        lines = coldstart.format_lines(section)
    elif name == "first_response":
        lines = firstresponse.format_lines(section, report.get("cold_start"))
    elif name == "redaction":
        lines = redaction.format_lines(section)[1:]
    else:
        lines = _warm_lines(section)
    return "\n".join([_machine_line(section["machine"]), "", *lines])


def _na(result: dict[str, Any]) -> str:
    return str(result.get("note", "not available yet"))


def _warm_lines(warm_section: dict[str, Any]) -> list[str]:
    lines = [
        f"2. Warm handler overhead, ms outside AWS SDK calls "
        f"({warm_section['calls_per_route']} calls, cached key)",
        f"   {'route':<32}{'p50':>8}{'p99':>8}{'calls/req':>11}",
    ]
    for name, r in warm_section["routes"].items():
        if not r.get("available"):
            lines.append(f"   {name:<32}{_na(r)}")
            continue
        lines.append(
            f"   {name:<32}{r['overhead_p50_ms']:>8.3f}{r['overhead_p99_ms']:>8.3f}"
            f"{r['aws_calls_per_request']:>11.2f}"
        )
    return lines


def _first_response_lines(report: dict[str, Any]) -> list[str]:
    if "first_response" not in report:  # a report written before the section existed
        return []
    return ["", *firstresponse.format_lines(report["first_response"], report["cold_start"])]


def format_report(report: dict[str, Any]) -> str:
    """The plain-text tables `make bench` prints (also pasted in docs/performance.md)."""
    m = report["machine"]
    lines = [f"{_machine_line(m)} ({report['mode']} run)", ""]
    if "machine" in report["cold_start"]:  # re-measured alone with --only cold_start
        lines.append(
            f"   (cold start re-measured alone on {report['cold_start']['machine']['date']})"
        )
    lines += coldstart.format_lines(report["cold_start"])
    lines += _first_response_lines(report)
    lines += ["", *_warm_lines(report["warm_overhead"])]
    lines += ["", "3. AWS round trips per request (warm, cached key)"]
    lines.append(f"   {'route':<36}{'calls':>6}{'min':>5}  operations")
    for route, r in report["round_trips"]["routes"].items():
        if not r.get("available"):
            lines.append(f"   {route:<36}{_na(r)}")
            continue
        ops = ", ".join(f"{op.split('.')[1]}x{n}" for op, n in r["by_operation"].items())
        lines.append(f"   {route:<36}{r['calls']:>6}{r['minimum']:>5}  {ops}")
    inbox = report["inbox_scale"]
    lines += ["", "4. Inbox page cost by backlog (calls / ScannedCount per page of 50)"]
    if not inbox.get("available"):
        lines.append(f"   {_na(inbox)}")
    else:
        for row in inbox["sizes"]:
            first, after = row["first_page"], row["after_ack_99pct"]["first_page"]
            lines.append(
                f"   {row['pending']:>8,} pending: {first['aws_calls']} call, "
                f"{first['scanned_count']} read | after 99% acked "
                f"({row['after_ack_99pct']['pending']:,} left): {after['aws_calls']} call, "
                f"{after['scanned_count']} read"
            )
        if inbox.get("note"):
            lines.append(f"   note: {inbox['note']}")
    render = report["render"]
    lines += ["", "5. Rehydrate render (pure renderer; median ms, tracemalloc peak)"]
    if not render.get("available"):
        lines.append(f"   {_na(render)}")
    else:
        for row in render["sizes"]:
            lines.append(
                f"   {row['changed_files']:>7,} files, {row['commits']:>5} commits: "
                f"{row['render_ms_median']:>8.1f} ms, {row['peak_mib']:>6.2f} MiB peak"
            )
    pkgs = report["packages"]
    lines += ["", "6. Package sizes"]
    if not pkgs.get("available"):
        lines.append(f"   {_na(pkgs)}")
    else:
        lines += [f"   {z['file']:<48}{z['kib']:>10.1f} KiB" for z in pkgs["zips"]]
    lines += redaction.format_lines(report.get("redaction", {}))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI-like runs)")
    parser.add_argument("--output", default=str(env.REPO_ROOT / "docs" / "bench.json"))
    parser.add_argument(
        "--only",
        choices=list(RERUNNABLE),
        help="re-measure one section and update it in the existing --output file",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    output = Path(args.output)
    if args.only:
        previous = json.loads(output.read_text()) if output.exists() else {}
        report = rerun_section(args.only, sizes, previous)
        text = format_section(args.only, report)
    else:
        report = run(sizes, args.quick)
        text = format_report(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(text)
    print(f"\nwritten: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
