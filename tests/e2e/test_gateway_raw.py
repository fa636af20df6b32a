"""The local gateway's edge over raw sockets: every malformed, oversized, slow or
abandoned request gets the contract's error envelope (or, when the client is gone,
one quiet log line), never an HTML page, a reset or a traceback.

A gateway of its own with short timeouts (read 1 s, body 2 s) so the slow cases
take seconds, not the defaults' 10/30 s.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Gateway, start_gateway, stop_gateway

READ_TIMEOUT = 1.0
BODY_SECONDS = 2.0
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = start_gateway(
        tmp_path_factory.mktemp("edge"),
        {
            "DOCKHAND_GATEWAY_READ_TIMEOUT": str(READ_TIMEOUT),
            "DOCKHAND_GATEWAY_BODY_SECONDS": str(BODY_SECONDS),
        },
    )
    yield running
    assert stop_gateway(running) == 0, running.log()
    log = running.log()
    assert "Traceback" not in log, log
    noisy = [line for line in log.splitlines() if "BrokenPipe" in line or "Errno" in line]
    assert all("client closed the connection early" in line for line in noisy), noisy


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def connect(gateway: Gateway, timeout: float = 10) -> socket.socket:
    address = urlsplit(gateway.url)
    assert address.hostname is not None
    assert address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=timeout)


def read_reply(sock: socket.socket) -> Reply:
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without an answer: {raw!r}")
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Reply(int(status_line.split()[1]), headers, body[:length])


def exchange(gateway: Gateway, data: bytes, *, timeout: float = 10) -> Reply:
    with connect(gateway, timeout) as sock:
        sock.sendall(data)
        return read_reply(sock)


def assert_envelope(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json", reply
    assert reply.headers.get("connection", "").lower() == "close", reply
    body = reply.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == reply.headers["x-request-id"]
    assert b"<html" not in reply.body.lower()


def assert_still_serving(gateway: Gateway) -> None:
    reply = exchange(gateway, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.status == 200


def post(gateway: Gateway, extra_headers: str, body: bytes = b"") -> bytes:
    return (
        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {gateway.key}\r\n{extra_headers}\r\n"
    ).encode() + body


# --------------------------------------------------------------------------- framing

BAD_LENGTHS = ["abc", "-1", "1.5", "0x10", "5 5", "+5", "1e3", "", " ", "\u0661", "9" * 40]


@pytest.mark.parametrize("value", BAD_LENGTHS)
def test_a_bad_content_length_is_400_in_the_envelope(edge: Gateway, value: str) -> None:
    reply = exchange(edge, post(edge, f"Content-Length: {value}\r\n", b"{}"))  # UTF-8 bytes
    if value.strip() == "":
        # An empty value is no length at all: an empty body, which the route refuses.
        assert reply.status == 400
        return
    expected = ("payload_too_large", 413) if value == "9" * 40 else ("bad_request", 400)
    assert_envelope(reply, expected[1], expected[0])


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Length: 2\r\nContent-Length: 3\r\n",  # two different lengths
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",  # the smuggling shape
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
    ],
)
def test_ambiguous_framing_is_400(edge: Gateway, headers: str) -> None:
    assert_envelope(exchange(edge, post(edge, headers, b"{}")), 400, "bad_request")


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n"])
def test_malformed_chunked_bodies_are_400(edge: Gateway, chunks: bytes) -> None:
    reply = exchange(edge, post(edge, "Transfer-Encoding: chunked\r\n", chunks))
    assert_envelope(reply, 400, "bad_request")


def test_a_body_over_10_mb_is_413_before_being_read(edge: Gateway) -> None:
    reply = exchange(edge, post(edge, f"Content-Length: {10 * 1024 * 1024 + 1}\r\n"))
    assert_envelope(reply, 413, "payload_too_large")


# --------------------------------------------------------------------------- sizes


def test_a_request_line_over_64_kib_is_414(edge: Gateway) -> None:
    line = f"GET /status?pad={'a' * 70_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert_envelope(exchange(edge, line), 414, "uri_too_long")


@pytest.mark.parametrize(
    "headers",
    [
        f"X-Big: {'b' * 70_000}\r\n",
        "".join(f"X-H{n}: v\r\n" for n in range(101)),
    ],
    ids=["long header line", "101 headers"],
)
def test_header_blocks_too_large_are_431(edge: Gateway, headers: str) -> None:
    request = f"GET /status HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    assert_envelope(exchange(edge, request), 431, "request_header_fields_too_large")


@pytest.mark.parametrize(
    "request_line",
    [b"HELLO\r\n\r\n", b"GET /status HTTP/9.9\r\n\r\n", b"GET /status FTP/1.0\r\n\r\n"],
)
def test_malformed_request_lines_are_400(edge: Gateway, request_line: bytes) -> None:
    assert_envelope(exchange(edge, request_line), 400, "bad_request")


# --------------------------------------------------------------------------- time


def test_a_body_that_stops_arriving_is_408(edge: Gateway) -> None:
    started = time.monotonic()
    with connect(edge) as sock:
        sock.sendall(post(edge, "Content-Length: 100\r\n", b'{"event_type"'))
        reply = read_reply(sock)
    assert_envelope(reply, 408, "request_timeout")
    assert time.monotonic() - started < READ_TIMEOUT + 3


def test_a_body_trickling_in_ends_at_the_body_deadline(edge: Gateway) -> None:
    started = time.monotonic()
    with connect(edge) as sock:
        sock.sendall(post(edge, "Content-Length: 1000\r\n"))
        reply = None
        for _ in range(40):  # a byte every 0.2 s: each gap is under the read timeout
            try:
                sock.sendall(b" ")
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - started > BODY_SECONDS + 1:
                break
        reply = read_reply(sock)
    assert_envelope(reply, 408, "request_timeout")
    assert time.monotonic() - started < BODY_SECONDS + 4


def test_headers_that_stop_arriving_are_408(edge: Gateway) -> None:
    with connect(edge) as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
        reply = read_reply(sock)
    assert_envelope(reply, 408, "request_timeout")


# --------------------------------------------------------------------------- clients leaving


def test_clients_leaving_early_leave_one_quiet_log_line(edge: Gateway) -> None:
    for _ in range(5):
        with connect(edge) as sock:  # gone before the body arrives
            sock.sendall(post(edge, "Content-Length: 50\r\n", b"{"))
        with connect(edge) as sock:  # gone before the (large) answer is read
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    assert_still_serving(edge)
    log = edge.log()
    assert "Traceback" not in log, log
    assert "client closed" in log or "connection ended" in log


def test_many_connections_opened_at_once_are_all_served(edge: Gateway) -> None:
    sockets = [connect(edge) for _ in range(200)]  # all connected before any is served
    try:
        for sock in sockets:
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        statuses = [read_reply(sock).status for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert statuses == [200] * 200


def test_after_all_of_it_the_gateway_serves_normally(edge: Gateway, tmp_path: Path) -> None:
    assert_still_serving(edge)
    created = edge.http("POST", "/events", key=edge.key, json={"event_type": "t", "payload": {}})
    assert created.status == 201, created.body


# --------------------------------------------------------------------------- header shape (#25)


@pytest.mark.parametrize(
    "header",
    [
        b"Transfer-Encoding : chunked\r\n",  # whitespace before the colon
        b"Transfer-Encoding\t: chunked\r\n",
        b"Content-Length : 2\r\n",
        b"Bad Name: v\r\n",
        b'X"Quoted: v\r\n',  # a name that is not a token
        b"X-Nul: a\x00b\r\n",
        b"X-Ctl: a\x01b\r\n",
        b"X-Esc: \x1b[31mred\r\n",
        b"X-Del: a\x7fb\r\n",
        b"X-Cr: a\rb\r\n",
        b"X-Folded: one\r\n two\r\n",  # obs-fold
    ],
)
def test_malformed_header_lines_are_400_in_the_envelope(edge: Gateway, header: bytes) -> None:
    request = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {edge.key}\r\n".encode()
        + header
        + b"Content-Length: 2\r\n\r\n{}"
    )
    assert_envelope(exchange(edge, request), 400, "bad_request")


def test_a_request_target_with_control_bytes_is_400(edge: Gateway) -> None:
    for target in (b"/status\x1b[31m", b"/status\x00", b"/st\x7fatus"):
        reply = exchange(edge, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_envelope(reply, 400, "bad_request")


def test_tabs_and_non_ascii_bytes_in_values_are_still_accepted(edge: Gateway) -> None:
    reply = exchange(edge, b"GET /status HTTP/1.1\r\nHost: x\r\nX-Note: a\tb \xe9\r\n\r\n")
    assert reply.status == 200


def test_logged_paths_cannot_forge_lines_or_reach_the_terminal(edge: Gateway) -> None:
    targets = [
        "/status%0d%0a2026-01-01 00:00:00,000 GET /forged 200 0.1ms",
        "/status%0aFORGED-LINE",
        "/status%1b%5b2J%1b%5b31mRED",
        "/status%c2%9b31mC1",  # the C1 CSI
        "/status%e2%80%a8SEP",  # U+2028 line separator
    ]
    for target in targets:
        reply = exchange(edge, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert reply.status in {400, 404}, reply
    time.sleep(0.3)
    log = edge.log()
    assert "\x1b" not in log
    assert "\x9b" not in log
    assert "\u2028" not in log
    for line in log.splitlines():
        assert not line.startswith(("FORGED", "2026-01-01")), line
        assert "GET /forged" not in line or "\\x0d\\x0a" in line, line
    assert "/status\\x0aFORGED-LINE" in log
    assert "/status\\x1b[2J\\x1b[31mRED" in log
