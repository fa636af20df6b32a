"""The machine a run was measured on, so figures are never quoted without it."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _first_field(path: str, name: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        return None
    return None


def describe() -> dict[str, Any]:
    mem_kb = _first_field("/proc/meminfo", "MemTotal")
    memory_gib = round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None
    return {
        "cpu_model": _first_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        # 1-minute load average at the start: figures from a busy machine (other jobs
        # on the same cores) are slower and noisier, so they are never quoted without it.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
