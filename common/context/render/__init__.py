"""The rehydrate document: a pure renderer (snapshot dict in, text out).

`render_markdown(snapshot, since=None, max_tokens=None)` and `render_json(...)` take
the stored snapshot document (see `common.context.snapshots.build_document`) and, for
`since`, the earlier snapshot's document.  `synthetic_snapshot(...)` builds a
document of any size for benchmarks.
"""

from __future__ import annotations

from common.context.render.output import (
    CHARS_PER_TOKEN,
    MAX_TOKENS,
    MIN_TOKENS,
    render_document,
    render_json,
    render_markdown,
)
from common.context.render.rules import categorize, persona
from common.context.render.synthetic import synthetic_snapshot

__all__ = [
    "CHARS_PER_TOKEN",
    "MAX_TOKENS",
    "MIN_TOKENS",
    "categorize",
    "persona",
    "render_document",
    "render_json",
    "render_markdown",
    "synthetic_snapshot",
]
