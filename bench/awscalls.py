"""Counting and timing every AWS call a handler makes, by wrapping botocore's
`BaseClient._make_api_call` (the one funnel every client and resource call goes
through).  The time measured is the whole SDK call: parameter validation,
serialisation, the (emulated) round trip and response parsing.  "Handler
overhead" is then wall time minus this: what the handler's own code costs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AwsRecorder:
    calls: Counter[str] = field(default_factory=Counter)
    nanoseconds: int = 0
    # (operation, response) of each Query/Scan, for ScannedCount/Count.
    reads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _depth: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.nanoseconds = 0
        self.reads.clear()

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@contextmanager
def recording() -> Iterator[AwsRecorder]:
    """Record every botocore call made while the context is open."""
    from botocore.client import BaseClient

    recorder = AwsRecorder()
    original = BaseClient._make_api_call

    def timed(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if recorder._depth:  # a call made inside another (emulator internals): count once
            return original(self, operation_name, api_params)
        recorder._depth += 1
        started = time.perf_counter_ns()
        try:
            result = original(self, operation_name, api_params)
            if operation_name in ("Query", "Scan"):
                recorder.reads.append((operation_name, result))
            return result
        finally:
            recorder.nanoseconds += time.perf_counter_ns() - started
            recorder._depth -= 1
            service = self.meta.service_model.service_name
            recorder.calls[f"{service}.{operation_name}"] += 1

    BaseClient._make_api_call = timed
    try:
        yield recorder
    finally:
        BaseClient._make_api_call = original
