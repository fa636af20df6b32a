"""Push delivery test support: a loopback receiver that verifies every delivery with
the Standard Webhooks reference library, and the local pumps run step by step."""

from __future__ import annotations

import http.server
import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from standardwebhooks.webhooks import Webhook

from tools.local import pumps

if TYPE_CHECKING:
    from tests.conftest import ApiClient, Keys

Answer = Callable[[str, int], tuple[int, float]]  # (path, nth request to it) → (status, delay)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str) -> Any:
        """The payload, verified unchanged by the reference library (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """HTTP receiver on 127.0.0.1; `answer` decides status (and a delay) per request."""

    answer: Answer = lambda path, n: (200, 0.0)
    # Response headers per request, e.g. Retry-After: (path, nth) → {name: value}.
    answer_headers: Callable[[str, int], dict[str, str]] = lambda path, n: {}
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                nth = len(receiver.on(self.path))
                receiver.received.append(Received(self.path, headers, body, time.time()))
                status, delay = receiver.answer(self.path, nth)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.url("/elsewhere"))
                for name, value in receiver.answer_headers(self.path, nth).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def invoke(function: str, event: dict[str, Any]) -> Any:
    return importlib.import_module(f"handlers.{function}").handler(event, None)


@dataclass
class Pipeline:
    """The stream and queue pumps of `make run`, driven by the test."""

    stream: pumps.StreamPump
    queue: pumps.QueuePump

    def step(self) -> int:
        return self.stream.poll_once() + self.queue.poll_once()

    def drain(self, until: Callable[[], bool] | None = None, timeout: float = 20.0) -> None:
        """Pump until `until()` holds (or, without it, until nothing moves for 1.5 s)."""
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            moved = self.step()
            if until is not None and until():
                return
            if moved:
                quiet_since = time.monotonic()
            elif until is None and time.monotonic() - quiet_since > 1.5:
                return
        if until is not None:
            raise AssertionError("the pipeline did not get there in time")


def running_receiver() -> Iterator[Receiver]:
    """For a fixture: a started receiver, stopped after the test."""
    running = Receiver().start()
    yield running
    running.stop()


def make_pipeline(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """(Inside the `aws` fixture.) Queues created and the stream opened from its
    start, loopback receivers allowed, retry delays divided by 3600 (5 s … 10 h
    become 1 s … 10 s)."""
    from common.runtime.config import settings

    monkeypatch.setenv("DOCKHAND_RATE_LIMIT_REQUESTS", "100000")
    monkeypatch.setenv("DOCKHAND_ALLOW_LOOPBACK_TARGETS", "true")
    monkeypatch.setenv("DOCKHAND_RETRY_DIVISOR", "3600")
    monkeypatch.delenv("DOCKHAND_DELIVERY_QUEUE_URL", raising=False)  # restored: unset
    url, arn = pumps.configure(allow_loopback=True)
    settings.cache_clear()
    stream = pumps.StreamPump(invoke, settings().events_table, start_at="TRIM_HORIZON")
    stream.open()
    queue = pumps.QueuePump(invoke, url, arn, wait_seconds=0)
    return Pipeline(stream, queue)


# ---------------------------------------------------------------- API steps the tests share


def subscribe(api: ApiClient, key: str, url: str, **fields: Any) -> dict[str, Any]:
    """POST /subscriptions → the 201 body (with the secret)."""
    result = api.post("/subscriptions", key=key, json_body={"url": url, **fields})
    assert result.status == 201, result.text
    return dict(result.json)


def subscribe_id(api: ApiClient, key: str, url: str, **fields: Any) -> str:
    return str(subscribe(api, key, url, **fields)["subscription_id"])


def post_event(api: ApiClient, key: str, event_type: str = "order.created", **payload: Any) -> str:
    """A new event (a unique payload unless one is given; a given one may be a duplicate)."""
    body = {"event_type": event_type, "payload": payload or {"n": time.time_ns()}}
    result = api.post("/events", key=key, json_body=body)
    assert result.status in ((200, 201) if payload else (201,)), result.text
    return str(result.json["event_id"])


# test_delivery.py and test_delivery_stages.py import these fixtures; `pipeline` is autouse
# there (only where imported), as it was when they were one module.
@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture(autouse=True, name="pipeline")
def pipeline_fixture(aws: None, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    return make_pipeline(monkeypatch)


def attempts(api: ApiClient, key: str, sub: dict[str, Any]) -> list[dict[str, Any]]:
    result = api.get(f"/subscriptions/{sub['subscription_id']}/deliveries", key=key)
    assert result.status == 200, result.text
    return list(result.json["items"])


def _status(api: ApiClient, keys: Keys, sub: dict[str, Any]) -> str:
    return str(api.get(f"/subscriptions/{sub['subscription_id']}", key=keys.viewer).json["status"])
