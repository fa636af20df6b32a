"""Rehydrate render time and peak memory on the pure renderer, by snapshot size."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from bench.stats import median


def measure(sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    from bench.synthetic import synthetic_snapshot
    from common.context import render

    rows = []
    for changes in sizes:
        snapshot = synthetic_snapshot(
            changes=changes,
            commits=min(changes // 10, 1000),
            markers=changes // 5,
            notes=changes // 10,
            tasks=max(changes // 200, 1),
        )
        timings = []
        for _ in range(repeats):
            started = time.perf_counter_ns()
            text = render.render_markdown(snapshot)
            timings.append((time.perf_counter_ns() - started) / 1e6)
        tracemalloc.start()
        render.render_markdown(snapshot)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(
            {
                "changed_files": changes,
                "commits": len(snapshot["commits"]),
                "markers": len(snapshot["markers"]),
                "notes": len(snapshot["notes"]),
                "render_ms_median": round(median(timings), 2),
                "peak_mib": round(peak / 2**20, 2),
                "document_chars": len(text),
            }
        )
    return {"available": True, "repeats": repeats, "sizes": rows}
