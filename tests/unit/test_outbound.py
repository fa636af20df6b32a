"""Outbound delivery requests against real loopback servers (HTTP and verified TLS)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.triggers import outbound, ssrf


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers by path: /ok, /fail, /redirect, /slow, /big, /trickle."""

    seen: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        Receiver.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/redirect":
            self._answer(302, b"", {"Location": "/ok"})
        elif self.path == "/fail":
            self._answer(500, b"no")
        elif self.path == "/big":
            self._answer(200, b"x" * (1024 * 1024))
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._answer(204, b"")

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_port() -> Iterator[int]:
    Receiver.seen = []
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver))


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for hooks.test signed by it (cryptography ships with moto)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[int, str]]:
    Receiver.seen = []
    ca_path, cert_path, key_path = _certificates(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for port in _serve(server):
        yield port, str(ca_path)


def _target(port: int, path: str, scheme: str = "http", host: str = "127.0.0.1") -> ssrf.Target:
    return ssrf.Target(scheme, host, port, path, "127.0.0.1", ("127.0.0.1",))


BODY = b'{"type":"t"}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def test_2xx_is_success_and_the_request_is_what_was_signed(http_port: int) -> None:
    result = outbound.send(_target(http_port, "/ok?q=1"), BODY, HEADERS)
    assert (result.outcome, result.status_code, result.error) == ("success", 204, None)
    path, headers, body = Receiver.seen[0]
    assert (path, body) == ("/ok?q=1", BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["host"] == f"127.0.0.1:{http_port}"


def test_5xx_is_http_status(http_port: int) -> None:
    result = outbound.send(_target(http_port, "/fail"), BODY, HEADERS)
    assert (result.outcome, result.status_code) == ("http_status", 500)


def test_redirects_are_not_followed(http_port: int) -> None:
    result = outbound.send(_target(http_port, "/redirect"), BODY, HEADERS)
    assert (result.outcome, result.status_code) == ("http_status", 302)
    assert [seen[0] for seen in Receiver.seen] == ["/redirect"]


def test_a_slow_receiver_times_out_within_the_total(http_port: int) -> None:
    started = time.monotonic()
    result = outbound.send(_target(http_port, "/slow"), BODY, HEADERS, timeout=0.5)
    assert result.outcome == "timeout"
    assert result.status_code is None
    assert time.monotonic() - started < 1.4


def test_a_trickling_receiver_cannot_outlast_the_total_timeout(http_port: int) -> None:
    started = time.monotonic()
    result = outbound.send(_target(http_port, "/trickle"), BODY, HEADERS, timeout=1.0)
    assert result.outcome == "timeout"
    assert time.monotonic() - started < 2.5


def test_a_large_response_is_read_only_up_to_64_kib(
    http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    original = outbound._read_capped

    def counting(response: Any, deadline: float) -> int:
        reads.append(original(response, deadline))
        return reads[-1]

    monkeypatch.setattr(outbound, "_read_capped", counting)
    result = outbound.send(_target(http_port, "/big"), BODY, HEADERS)
    assert result.outcome == "success"
    assert reads == [outbound.MAX_RESPONSE_BYTES]


def test_connection_refused_is_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens
    result = outbound.send(_target(port, "/"), BODY, HEADERS)
    assert (result.outcome, result.status_code) == ("connect_error", None)


def test_verified_tls_with_sni_and_host_of_the_url_while_connecting_to_the_ip(
    tls: tuple[int, str],
) -> None:
    port, ca = tls
    result = outbound.send(_target(port, "/ok", "https", "hooks.test"), BODY, HEADERS, ca_certs=ca)
    assert result.outcome == "success"
    assert Receiver.seen[0][1]["host"] == f"hooks.test:{port}"


def test_an_untrusted_or_mismatched_certificate_is_tls_error(tls: tuple[int, str]) -> None:
    port, ca = tls
    untrusted = outbound.send(_target(port, "/ok", "https", "hooks.test"), BODY, HEADERS)
    assert untrusted.outcome == "tls_error"
    wrong_name = outbound.send(
        _target(port, "/ok", "https", "other.test"), BODY, HEADERS, ca_certs=ca
    )
    assert wrong_name.outcome == "tls_error"
    assert Receiver.seen == []


def test_a_refused_url_is_ssrf_refused_without_connecting(http_port: int) -> None:
    result = outbound.deliver(f"http://127.0.0.1:{http_port}/ok", BODY, HEADERS)
    assert result.outcome == "ssrf_refused"
    assert Receiver.seen == []
    allowed = outbound.deliver(
        f"http://127.0.0.1:{http_port}/ok", BODY, HEADERS, allow_loopback=True
    )
    assert allowed.outcome == "success"


def test_rebinding_connects_to_the_checked_address_without_a_second_lookup(
    http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolver answers 127.0.0.1 first (treated as public for this test) and a
    private address after; the system resolver must never be asked at all."""
    answers = [["127.0.0.1"], ["10.255.255.1"]]
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), 2) - 1]

    loopback = ipaddress.ip_address("127.0.0.1")
    real_refusal = ssrf.address_refusal
    monkeypatch.setattr(
        ssrf, "address_refusal", lambda a: None if a == loopback else real_refusal(a)
    )
    monkeypatch.setattr(ssrf, "ALLOWED_HTTPS_PORTS", frozenset({443, 8443, http_port}))

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        if args and args[0] not in ("127.0.0.1",):
            raise AssertionError(f"second DNS lookup of {args[0]!r}")
        return real_getaddrinfo(*args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    result = outbound.deliver(
        f"https://rebind.example:{http_port}/ok", BODY, HEADERS, resolver=rebinding
    )
    # https to a plain-HTTP server fails the handshake: the point is where it connected.
    assert result.outcome in {"tls_error", "connect_error"}
    assert calls == ["rebind.example"]
