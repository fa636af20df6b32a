"""The `.dockhand/local.json` file `make run` writes so the CLI can reach its emulator.

When the CLI runs without `AWS_ENDPOINT_URL` or `DOCKHAND_TARGET=aws`, it applies
this file: endpoint, fake credentials, table prefix, master key and API URL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("DOCKHAND_STATE_DIR", Path.cwd() / ".dockhand"))
STATE_FILE = STATE_DIR / "local.json"

# Environment variables the local state provides to processes that talk to the emulator.
STATE_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "DOCKHAND_TABLE_PREFIX",
    "DOCKHAND_MASTER_KEY",
    "DOCKHAND_BCRYPT_ROUNDS",
)


def write_state(state: dict[str, Any]) -> Path:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)  # holds the local master key and bootstrap key
    tmp.replace(STATE_FILE)
    return STATE_FILE


def read_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return state


def clear_state() -> None:
    STATE_FILE.unlink(missing_ok=True)


def apply_state() -> dict[str, Any] | None:
    """Point this process at the running `make run` emulator, unless told otherwise."""
    if os.environ.get("DOCKHAND_TARGET") == "aws" or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    state = read_state()
    if state is None:
        return None
    for name in STATE_ENV:
        value = state.get("env", {}).get(name)
        if value is not None:
            os.environ.setdefault(name, str(value))
    return state


def default_api_url() -> str:
    state = read_state()
    if state and state.get("api_url"):
        return str(state["api_url"])
    return f"http://127.0.0.1:{os.environ.get('PORT', '3000')}"
