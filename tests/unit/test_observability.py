"""Log keys belong to one invocation, even when invocations share a process (make run)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from common.runtime.observability import add_log_keys, logger, start_invocation


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The powertools logger's JSON lines, formatted as in Lambda."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_concurrent_invocations_keep_their_own_request_ids(logs: io.StringIO) -> None:
    both_started = threading.Barrier(2)

    def invoke(request_id: str) -> None:
        start_invocation(correlation_id=request_id, function="events")
        both_started.wait()  # the other thread has now set its keys too
        add_log_keys(tenant=f"tenant-{request_id}")
        logger.info("work", extra={"me": request_id})

    threads = [threading.Thread(target=invoke, args=(rid,)) for rid in ("req-a", "req-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    work = [line for line in _lines(logs) if line.get("message") == "work"]
    assert len(work) == 2
    for line in work:
        assert line["correlation_id"] == line["me"]
        assert line["tenant"] == f"tenant-{line['me']}"


def test_a_new_invocation_forgets_the_previous_keys(logs: io.StringIO) -> None:
    start_invocation(correlation_id="first")
    add_log_keys(tenant="acme")
    start_invocation(correlation_id="second")
    logger.info("next")
    line = _lines(logs)[-1]
    assert line["correlation_id"] == "second"
    assert "tenant" not in line
