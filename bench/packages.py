"""Deployment package sizes, read from what `make package` left in build/."""

from __future__ import annotations

from typing import Any

from bench.env import REPO_ROOT


def measure() -> dict[str, Any]:
    build = REPO_ROOT / "build"
    zips = sorted(build.rglob("*.zip")) if build.is_dir() else []
    if not zips:
        return {"available": False, "note": "not available yet (run `make package` first)"}
    return {
        "available": True,
        "zips": [
            {
                "file": str(path.relative_to(REPO_ROOT)),
                "kib": round(path.stat().st_size / 1024, 1),
            }
            for path in zips
        ],
    }
