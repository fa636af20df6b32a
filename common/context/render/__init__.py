"""The rehydrate document: a pure renderer (snapshot dict in, text out).

`render_markdown(snapshot, since=None, max_tokens=None)` and `render_json(...)` take
the stored snapshot document (see `common.context.snapshots.build_document`) and, for
`since`, the earlier snapshot's document.  `estimate_tokens(text)` is the token
estimate the budget uses (`tokens.py` says how it is calibrated).  Every value reaches
the markdown through `markup` (one escaping rule).  Documents of any size for
benchmarks and tests come from `bench.synthetic` (never shipped to Lambda).
"""

from __future__ import annotations

from common.context.render.output import (
    MAX_TOKENS,
    MIN_TOKENS,
    render_document,
    render_json,
    render_markdown,
    render_markdown_with_estimate,
)
from common.context.render.rules import categorize, persona
from common.context.render.tokens import estimate_tokens

__all__ = [
    "MAX_TOKENS",
    "MIN_TOKENS",
    "categorize",
    "estimate_tokens",
    "persona",
    "render_document",
    "render_json",
    "render_markdown",
    "render_markdown_with_estimate",
]
