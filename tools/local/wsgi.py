"""The local gateway's HTTP layer: werkzeug's threaded server, API Gateway's edge rules.

werkzeug (installed with moto, which serves its own emulator with it) parses
HTTP/1.1: request line, headers, header folding, chunked bodies.  This module adds
what API Gateway does at its edge, so `make run` keeps the contract under hostile
or careless clients:

- every error the gateway itself answers uses the contract's error envelope, also
  the ones http.server would answer with an HTML page: malformed request line or
  version (400), request line over 64 KiB (414), a header line over 64 KiB or more
  than 100 headers (431), a bad or ambiguous `Content-Length` (400), both
  `Content-Length` and `Transfer-Encoding` (400, the request-smuggling shape),
  a body over 10 MB (413), a body too slow (408);
- timeouts: a connection silent for `DOCKHAND_GATEWAY_READ_TIMEOUT` seconds (default
  10) is answered 408 and closed, and a body must arrive within
  `DOCKHAND_GATEWAY_BODY_SECONDS` (default 30, API Gateway's integration timeout),
  so no client holds a thread forever;
- a listen backlog of 1024 (http.server's default is 5: 32 clients connecting at
  once saw resets), one thread per connection;
- a client that goes away early is one log line, never a traceback;
- a header block that is not RFC 9110's shape is 400: a name that is not a token
  (whitespace before the colon included: `Transfer-Encoding : chunked` would slip past
  the framing checks), a folded line, or a value with NUL or another control byte;
  so is a request target with control bytes;
- what reaches the log (method, path) has its control characters escaped
  (`log_safe`): a `%0d%0a` in a path cannot forge a log line, nor an ANSI escape
  reach the terminal.

werkzeug's development server closes the connection after each response (it
cannot drain a request stream safely for keep-alive); clients reconnect, which on
loopback costs ~0.1 ms (docs/reliability.md, load run).
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger("local.gateway")

# API Gateway HTTP API refuses bodies over 10 MB before any function runs.
GATEWAY_MAX_BODY = 10 * 1024 * 1024
LISTEN_BACKLOG = 1024
_READ_SIZE = 64 * 1024

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def read_timeout() -> float:
    return float(os.environ.get("DOCKHAND_GATEWAY_READ_TIMEOUT") or 10)


def body_deadline() -> float:
    return float(os.environ.get("DOCKHAND_GATEWAY_BODY_SECONDS") or 30)


# RFC 9110 field names are tokens; values are visible characters, spaces and tabs
# (obs-text, bytes over 0x7f, is allowed; DEL and every other control byte is not).
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def log_safe(text: str) -> str:
    """`text` with every non-printable character (C0, DEL, C1 such as the CSI of ANSI
    escapes, line and paragraph separators, bidi controls) and the backslash escaped,
    so a logged value is one line that cannot pose as another or drive the terminal."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def header_refusal(pairs: list[tuple[str, str]], defects: list[Any], rest: str) -> str | None:
    """Why a parsed header block is malformed, or None.  `defects` and `rest` are what
    the email parser http.server uses leaves behind: a line that is not `name:` ends
    its header block, and the lines after it become a "body"."""
    if defects or rest:
        return "A header line is malformed: no whitespace is allowed in a name or before its colon."
    for name, value in pairs:
        if not _TOKEN.match(name):
            return "A header name is not a valid token."
        if "\r" in value or "\n" in value:
            return "Folded header lines (obs-fold) are not accepted."
        if _VALUE_CONTROL.search(value):
            return "A header value contains NUL or another control character."
    return None


# --------------------------------------------------------------------------- errors


class EdgeError(Exception):
    """A request the gateway answers itself, before any function: status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(EdgeError):
    status, code = 400, "bad_request"


class RequestTimeout(EdgeError):
    status, code = 408, "request_timeout"


class PayloadTooLarge(EdgeError):
    status, code = 413, "payload_too_large"


class UriTooLong(EdgeError):
    status, code = 414, "uri_too_long"


class HeadersTooLarge(EdgeError):
    status, code = 431, "request_header_fields_too_large"


class ClientGone(ConnectionError):
    """The client closed the connection before its body arrived: nobody to answer
    (a ConnectionError, so werkzeug treats it as a dropped connection)."""


# What http.server's own send_error(code) means, as envelope errors.
_EDGE_ERRORS: dict[int, type[EdgeError]] = {
    400: BadRequest,
    408: RequestTimeout,
    413: PayloadTooLarge,
    414: UriTooLong,
    431: HeadersTooLarge,
}


def envelope(error: EdgeError, request_id: str) -> bytes:
    from common.runtime.http import dumps_strict

    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": [],
            "request_id": request_id,
        }
    }
    return dumps_strict(body).encode()


def new_request_id() -> str:
    return os.urandom(16).hex()


# --------------------------------------------------------------------------- bodies


def read_body(environ: Environ) -> bytes:
    """The request body under API Gateway's rules; EdgeError or ClientGone otherwise."""
    connection = environ.get("werkzeug.socket")
    try:
        return _read_body(environ, connection)
    except RequestTimeout:
        # The socket file refuses reads after a timeout: werkzeug must not try to
        # drain it (that would be a traceback); the connection closes after the 408.
        abandon = environ.get("dockhand.abandon_input")
        if abandon is not None:
            abandon()
        raise
    finally:
        if connection is not None:
            connection.settimeout(read_timeout())


def _read_body(environ: Environ, connection: socket.socket | None) -> bytes:
    lengths = [value.strip() for value in environ.get("dockhand.content_lengths", [])]
    encodings = [e.strip().lower() for e in environ.get("dockhand.transfer_encodings", [])]
    stream = environ["wsgi.input"]
    deadline = time.monotonic() + body_deadline()
    if encodings:
        if lengths:
            raise BadRequest("Send either Content-Length or Transfer-Encoding, not both.")
        if ",".join(encodings).replace(" ", "") != "chunked":
            raise BadRequest("Only Transfer-Encoding: chunked is supported.")
        return _read_stream(stream, None, deadline, connection)
    if not lengths:
        return b""
    if len(set(lengths)) != 1 or not all(v.isascii() and v.isdigit() for v in lengths):
        raise BadRequest("Content-Length must be one non-negative integer.")
    length = int(lengths[0])
    if length > GATEWAY_MAX_BODY:
        raise PayloadTooLarge("The request body is larger than 10 MB.")
    return _read_stream(stream, length, deadline, connection) if length else b""


def _read_stream(
    stream: Any, length: int | None, deadline: float, connection: socket.socket | None
) -> bytes:
    """`length` bytes (or all of a chunked stream), within the deadline.

    Each read is one socket receive (read1) whose timeout is what is left of the
    deadline, so a body trickling in a byte at a time still ends at the deadline."""
    read = getattr(stream, "read1", stream.read)
    chunks: list[bytes] = []
    total = 0
    while length is None or total < length:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeout("The request body did not arrive in time.")
        if connection is not None:
            connection.settimeout(min(read_timeout(), remaining))
        wanted = _READ_SIZE if length is None else min(_READ_SIZE, length - total)
        try:
            chunk = read(wanted)
        except TimeoutError:
            raise RequestTimeout("The request body did not arrive in time.") from None
        except ConnectionError:
            raise ClientGone() from None
        except OSError as exc:  # werkzeug's DechunkedInput: bad chunk framing
            raise BadRequest(f"Malformed chunked body: {exc}.") from None
        if not chunk:
            if length is None:
                break
            raise ClientGone()
        chunks.append(chunk)
        total += len(chunk)
        if total > GATEWAY_MAX_BODY:
            raise PayloadTooLarge("The request body is larger than 10 MB.")
    return b"".join(chunks)


# --------------------------------------------------------------------------- server


class GatewayRequestHandler(WSGIRequestHandler):
    """werkzeug's handler with the edge rules above."""

    # Any method reaches the app (werkzeug's __getattr__ maps do_* to run_wsgi), so an
    # unknown one gets the route table's 404 as on API Gateway, not http.server's 501.

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(read_timeout())

    def parse_request(self) -> bool:
        """http.server's parsing, then the shape rules it does not apply (400)."""
        if not super().parse_request():
            return False
        headers = self.headers
        payload = headers.get_payload()
        refusal = header_refusal(
            list(headers.items()),
            list(headers.defects),
            payload if isinstance(payload, str) else "",
        )
        if refusal is None and _TARGET_CONTROL.search(self.path):
            refusal = "The request target contains a control character."
        if refusal is not None:
            self._send_edge(BadRequest(refusal))
            return False
        return True

    def log_error(self, format: str, *args: Any) -> None:
        # http.server reports a stalled request line or header block (a read timeout)
        # here and closes silently: answer it with a 408 envelope first.
        message = format % args if args else format
        if message.startswith("Request timed out") and not getattr(self, "_answered", False):
            self._send_edge(RequestTimeout("The request did not arrive in time."))
            return
        log.debug("http: %s", log_safe(message))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (request line, version, headers) as envelopes."""
        error_class = _EDGE_ERRORS.get(code, BadRequest)
        text = {
            414: "The request line is longer than 64 KiB.",
            431: "A header line is longer than 64 KiB, or there are more than 100 headers.",
        }.get(code, f"The request is not valid HTTP: {message or HTTPStatus(code).phrase}.")
        self._send_edge(error_class(text))

    def _send_edge(self, error: EdgeError) -> None:
        self._answered = True
        self.close_connection = True
        request_id = new_request_id()
        body = envelope(error, request_id)
        # A request line without a version is HTTP/0.9 to http.server, which then
        # writes no status line: answer as HTTP/1.1 regardless.
        self.request_version = self.protocol_version
        try:
            self.send_response(error.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-ID", request_id)
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", "") != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass  # the client is gone: nobody to tell
        log.info("- - %d (%s)", error.status, error.code)

    def make_environ(self) -> Environ:
        environ: Environ = super().make_environ()
        # Repeats matter for framing (two different Content-Lengths are an error), and
        # werkzeug keeps only the last one.
        environ["dockhand.content_lengths"] = self.headers.get_all("Content-Length") or []
        environ["dockhand.transfer_encodings"] = [
            part
            for value in self.headers.get_all("Transfer-Encoding") or []
            for part in value.split(",")
        ]
        environ["dockhand.header_pairs"] = list(self.headers.items())
        environ["dockhand.abandon_input"] = self._abandon_input
        return environ

    def _abandon_input(self) -> None:
        self.close_connection = True
        self.rfile = io.BytesIO()

    def run_wsgi(self) -> None:
        self._answered = True
        super().run_wsgi()

    def connection_dropped(self, error: BaseException, environ: Environ | None = None) -> None:
        log.info("client closed the connection early (%s)", type(error).__name__)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the app writes its own access line (no query strings, no headers)

    def version_string(self) -> str:
        return "dockhand-local"


class GatewayServer(ThreadedWSGIServer):
    """werkzeug's threaded server with a real backlog and quiet dropped connections."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True  # in-flight requests never hold up Ctrl-C

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys
        import traceback

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, socket.timeout)):
            log.info("client connection ended: %s", type(error).__name__)
            return
        log.error("gateway error:\n%s", traceback.format_exc())


WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def make_wsgi_server(port: int, app: WsgiApp) -> GatewayServer:
    return GatewayServer("127.0.0.1", port, app, handler=GatewayRequestHandler)
