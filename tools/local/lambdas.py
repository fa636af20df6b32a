"""Lambda on a laptop: each function's handler imported once, as a warm container
keeps it, and the context object a handler is called with (`make run`, the
`dockhand invoke` runner)."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.local.backend import LOCAL_REGION

HTTP_TIMEOUT_MS = 30_000  # API Gateway's integration timeout
SCHEDULED_TIMEOUT_MS = 60_000

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context object that code and powertools read."""

    function_name: str
    timeout_ms: int = HTTP_TIMEOUT_MS
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed_ms = int((time.monotonic() - self.started) * 1000)
        return max(0, self.timeout_ms - elapsed_ms)


class FunctionUnavailable(Exception):
    """The function's handler module does not exist (yet) in this tree."""


class FunctionLoader:
    """Imports each function's handler once (like a warm Lambda container).

    A module that is missing is not remembered, so a handler added while the
    gateway runs is picked up by the next request."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def handler(self, function: str) -> Handler:
        found = self._handlers.get(function)
        if found is not None:
            return found
        with self._lock:
            if function not in self._handlers:
                self._handlers[function] = _import_handler(function)
            return self._handlers[function]


def _import_handler(function: str) -> Handler:
    from tools.local import infra_model

    spec = infra_model.functions().get(function)
    if spec is None:
        raise FunctionUnavailable(f"no function named {function!r} in infra/functions.tf")
    module_name, _, attribute = spec.handler.rpartition(".")
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise FunctionUnavailable(f"{module_name} does not exist yet") from exc
        raise
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise FunctionUnavailable(f"{spec.handler} is not defined")
    return handler  # type: ignore[no-any-return]


def function_timeout_ms(function: str) -> int:
    from tools.local import infra_model

    spec = infra_model.functions().get(function)
    return SCHEDULED_TIMEOUT_MS if spec is not None and spec.schedule else HTTP_TIMEOUT_MS
