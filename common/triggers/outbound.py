"""One outbound delivery request, classified; never raises for what a receiver does.

urllib3 ships with botocore (already in every function), so this adds no dependency.
* the URL passes `ssrf.check` (one DNS lookup) and the request goes to the checked
  address: the pool's host is the IP, while `server_hostname` (SNI) and
  `assert_hostname` (certificate check) and the Host header keep the URL's host name;
* TLS is verified against botocore's CA bundle (certifi when installed);
* redirects are never followed (a 3xx is a failed attempt: `http_status`);
* 15 s in total for connect, send and read, enforced with a deadline, not only
  per socket operation (a receiver trickling bytes cannot hold a worker longer);
* at most 64 KiB of the response is read, undecoded (no decompression bombs), and
  it is never returned to anyone: only the status code is kept.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import urllib3

from common.triggers import ssrf

Outcome = Literal["success", "http_status", "timeout", "connect_error", "tls_error", "ssrf_refused"]
TOTAL_TIMEOUT_SECONDS = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "dockhand-webhooks/1"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status_code: int | None
    duration_ms: int
    error: str | None = None  # a class of failure, safe to show the subscription's tenant
    retry_after: str | None = None  # the receiver's Retry-After, as sent (delivery honours it)

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


def ca_bundle() -> str:
    from botocore.httpsession import get_cert_path

    return str(get_cert_path(True))


def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    resolver: ssrf.Resolver | None = None,
    allow_loopback: bool = False,
    reserved_ports: Collection[int] | None = None,
    timeout: float = TOTAL_TIMEOUT_SECONDS,
) -> Result:
    """Check `url` (resolving once), then POST to the checked address.  `reserved_ports`:
    loopback ports refused even with `allow_loopback` (default: the setting)."""
    started = time.monotonic()
    try:
        target = ssrf.check(
            url, resolver=resolver, allow_loopback=allow_loopback, reserved_ports=reserved_ports
        )
    except ssrf.Refused as refused:
        return Result("ssrf_refused", None, _ms(started), f"ssrf_refused: {refused}")
    return send(target, body, headers, timeout=timeout - (time.monotonic() - started))


def send(
    target: ssrf.Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float = TOTAL_TIMEOUT_SECONDS,
    ca_certs: str | None = None,
) -> Result:
    """POST `body` to an already checked target; a classified Result, never an exception."""
    started = time.monotonic()
    deadline = started + max(timeout, 0.001)
    request_headers = {
        **headers,
        "host": target.host_header,
        "user-agent": USER_AGENT,
        "content-length": str(len(body)),
    }
    pool = _pool(target, deadline, ca_certs)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=request_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
            timeout=_timeout(deadline),
        )
        try:
            _read_capped(response, deadline)
        finally:
            response.close()  # never reuse a connection to a receiver
    except Exception as exc:
        outcome = _classify(exc)
        return Result(outcome, None, _ms(started), outcome)
    finally:
        pool.close()
    status = int(response.status)
    if time.monotonic() > deadline:
        return Result("timeout", None, _ms(started), "timeout")
    if 200 <= status < 300:
        return Result("success", status, _ms(started))
    retry_after = response.headers.get("retry-after")
    return Result("http_status", status, _ms(started), f"http_status: {status}", retry_after)


def _pool(target: ssrf.Target, deadline: float, ca_certs: str | None) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            host=target.address,
            port=target.port,
            timeout=_timeout(deadline),
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or ca_bundle(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(
        host=target.address, port=target.port, timeout=_timeout(deadline), retries=False, maxsize=1
    )


def _timeout(deadline: float) -> urllib3.Timeout:
    remaining = max(deadline - time.monotonic(), 0.001)
    return urllib3.Timeout(connect=remaining, read=remaining)


def _read_capped(response: urllib3.BaseHTTPResponse, deadline: float) -> int:
    """Read up to MAX_RESPONSE_BYTES before the deadline; the bytes are discarded."""
    read = 0
    while read < MAX_RESPONSE_BYTES:
        if time.monotonic() > deadline:
            raise urllib3.exceptions.ReadTimeoutError(None, "", "total timeout")  # type: ignore[arg-type]
        chunk = response.read1(min(8192, MAX_RESPONSE_BYTES - read), decode_content=False)
        if not chunk:
            break
        read += len(chunk)
    return read


def _classify(exc: BaseException) -> Outcome:
    import ssl

    from urllib3 import exceptions as u3

    reason: BaseException = exc
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        reason = exc.reason
    if isinstance(reason, u3.SSLError | ssl.SSLError | ssl.CertificateError):
        return "tls_error"
    if isinstance(reason, u3.NewConnectionError | u3.NameResolutionError):
        return "connect_error"
    if isinstance(reason, u3.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(reason, u3.ProtocolError) and "timed out" in str(reason):
        return "timeout"
    return "connect_error"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
