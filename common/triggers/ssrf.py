"""The SSRF guard for subscription URLs: which targets a delivery may connect to.

A receiver URL is checked twice: at subscribe time (400 when refused) and right
before every delivery.  The check resolves the host ONCE and returns the addresses
it checked; the sender connects to one of those addresses (with the original host
name for SNI, certificate and Host), so a DNS answer that changes between the check
and the connection (rebinding) cannot steer a delivery elsewhere.

Rules (docs/triggers.md, "Push delivery"):
* `https` only, on port 443 or 8443; no userinfo; a host name or a canonical
  dotted-quad / bracketed IPv6 literal.  Numeric host forms that a resolver or a
  browser would read as IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) are
  refused outright: no legitimate public receiver needs them.
* every address of the answer must be public unicast: loopback, RFC 1918, CGNAT,
  link-local (169.254.169.254 included), multicast, reserved, broadcast,
  documentation and benchmarking ranges are refused; IPv6 only in global unicast
  (2000::/3) minus Teredo, the IETF, documentation and benchmarking ranges; every
  IPv4-embedding form (mapped, translated, compatible, NAT64, 6to4) is judged by the
  IPv4 address it embeds, and local-use NAT64 (64:ff9b:1::/48) is refused.  An
  answer that mixes public and private addresses is refused as a whole.
* `make run` alone (the setting `DOCKHAND_ALLOW_LOOPBACK_TARGETS`) also allows
  `http(s)://127.0.0.1[:port]` and `http(s)://localhost[:port]`, and never resolves
  `localhost` (it is 127.0.0.1): any port except the reserved ones
  (`DOCKHAND_LOOPBACK_RESERVED_PORTS`, which `make run` sets to its own gateway's and
  emulator's ports: the emulator's control API has no authentication, so a receiver
  there could reset every tenant's tables).  This is the one place that judges it, so
  subscribe time, every delivery and replay, and `dockhand listen` agree.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.runtime.config import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
ALLOWED_HTTPS_PORTS = frozenset({443, 8443})
LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_QUAD = re.compile(
    r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
)

_V4_FORBIDDEN = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 included
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local; 169.254.169.254 is the metadata service
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, 255.255.255.255 (broadcast) included
    )
)
# IPv6 is allowed only in global unicast (2000::/3), minus these ranges.  Everything
# outside 2000::/3 (::/8 with loopback and the IPv4 forms, 64:ff9b::/16, 100::/8,
# 5f00::/16, fc00::/7, fe80::/10, ff00::/8, the unassigned rest) is refused unless it is
# an IPv4-embedding form, which is judged by the IPv4 address it carries.
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_FORBIDDEN = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        # IETF protocol assignments (RFC 2928): Teredo 2001::/32 (a relayed tunnel whose
        # client address is obfuscated; no public receiver lives there), benchmarking
        # 2001:2::/48, ORCHID 2001:10::/28 and 2001:20::/28 included.
        "2001::/23",
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
# Forms that carry an IPv4 address, each with where the address sits (the shift of its
# 32 bits from the right).  6to4 is inside 2000::/3; the others are outside it.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated (SIIT, RFC 2765)
_COMPAT = ipaddress.IPv6Network("::/96")  # IPv4-compatible (deprecated)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # NAT64 well-known prefix (RFC 6052)
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_EMBEDDING = ((_MAPPED, 0), (_TRANSLATED, 0), (_NAT64, 0), (_SIX_TO_FOUR, 80))
# Local-use NAT64 (RFC 8215): the operator chooses where the IPv4 address sits (any
# prefix length from /48 to /96), so it cannot be read back; it is a local translator
# by definition: refused whatever it carries.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class Refused(ValueError):
    """The URL or its addresses are not an allowed delivery target; the message is safe
    to show the tenant who owns the URL (it names the rule, never an internal detail)."""


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to `address`, present `host` (SNI, Host header)."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"
    address: str  # the first checked address: the one to connect to
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (one lookup)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        return _v6_refusal(address)
    if any(address in network for network in _V4_FORBIDDEN):
        return "is not a public unicast address"
    return None if address.is_global else "is not a public unicast address"


def _v6_refusal(address: ipaddress.IPv6Address) -> str | None:
    embedded = embedded_ipv4(address)
    if embedded is not None:
        reason = address_refusal(embedded)
        return f"embeds a forbidden IPv4 address ({reason})" if reason else None
    if address in _LOCAL_NAT64:
        return "is a local-use NAT64 address"
    if address not in GLOBAL_UNICAST:
        return "is not a global unicast IPv6 address (2000::/3)"
    if any(address in network for network in _V6_FORBIDDEN):
        return "is not a public unicast address"
    return None if address.is_global else "is not a public unicast address"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, -translated, -compatible, NAT64 or 6to4 form
    carries; None for any other address."""
    for network, shift in _EMBEDDING:
        if address in network:
            return ipaddress.IPv4Address((int(address) >> shift) & 0xFFFFFFFF)
    if address in _COMPAT and int(address) > 1:  # :: and ::1 are not IPv4 forms
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    path: str
    literal: IPAddress | None


def reserved_loopback_ports(reserved: Collection[int] | None = None) -> frozenset[int]:
    """The loopback ports no receiver may use: `reserved`, else the setting."""
    if reserved is not None:
        return frozenset(reserved)
    return settings().loopback_reserved_ports


def loopback_rule(reserved: Collection[int] | None = None) -> str:
    """The loopback exception in words, for error messages and `make run`'s banner."""
    ports = sorted(reserved_loopback_ports(reserved))
    if not ports:
        return "http(s)://localhost or 127.0.0.1, any port"
    listed = ", ".join(str(p) for p in ports[:-1]) + (" and " if len(ports) > 1 else "")
    return f"http(s)://localhost or 127.0.0.1, any port except {listed}{ports[-1]}"


def parse_url(
    url: str, *, allow_loopback: bool = False, reserved_ports: Collection[int] | None = None
) -> _Parsed:
    """Syntax rules only (no DNS): scheme, port, userinfo and host form.

    `reserved_ports` (loopback ports refused even with `allow_loopback`) defaults to the
    setting; `dockhand listen` passes the ports of the `make run`s it sees."""
    if not isinstance(url, str) or not url:
        raise Refused("must be a URL")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) > 0x7E or ch == "\\" for ch in url):
        raise Refused("must be an ASCII URL without spaces or backslashes")
    try:
        parts = urlsplit(url)
        port_text = parts.port
    except ValueError:
        raise Refused("must be a valid URL") from None
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        raise Refused("must not contain user information")
    if parts.fragment:
        raise Refused("must not contain a fragment")
    raw_host = (parts.hostname or "").rstrip(".") if parts.hostname else ""
    if not raw_host:
        raise Refused("must name a host")
    host = raw_host.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if allow_loopback and host in LOOPBACK_HOSTS and scheme in {"http", "https"}:
        port = port_text or (443 if scheme == "https" else 80)
        if port in reserved_loopback_ports(reserved_ports):
            raise Refused(
                f"must not use port {port}: it is make run's own gateway or AWS emulator "
                f"(allowed: {loopback_rule(reserved_ports)})"
            )
        return _Parsed(scheme, host, port, path, ipaddress.ip_address("127.0.0.1"))
    if scheme != "https":
        also = f", or {loopback_rule(reserved_ports)} (make run)" if allow_loopback else ""
        raise Refused(f"must be an https:// URL{also}")
    port = port_text if port_text is not None else 443
    if port not in ALLOWED_HTTPS_PORTS:
        raise Refused("must use port 443 or 8443")
    return _Parsed(scheme, host, port, path, _host_literal(host, parts.netloc))


def _host_literal(host: str, netloc: str) -> IPAddress | None:
    """The IP literal the host is, None for a name; refuses ambiguous numeric forms."""
    if "[" in netloc:
        try:
            return ipaddress.IPv6Address(host)  # a zone ("%eth0") makes this fail
        except ValueError:
            raise Refused("must be a valid IPv6 literal without a zone") from None
    labels = host.split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels) or _NUMERIC_LABEL.match(labels[-1]):
        # WHATWG and inet_aton read "2130706433", "0x7f.1", "0177.0.0.1" and "127.1" as
        # IPv4 addresses; a name whose last label is numeric is never a DNS name either.
        if not _CANONICAL_QUAD.match(host):
            raise Refused("must not use a numeric host form other than a dotted quad")
        return ipaddress.IPv4Address(host)
    if not all(_HOST_LABEL.match(label) for label in labels) or len(host) > 253:
        raise Refused("must name a valid host")
    if host == "localhost" or host.endswith(".localhost"):
        raise Refused("must not target the local host")
    return None


def check(
    url: str,
    *,
    resolver: Resolver | None = None,
    allow_loopback: bool = False,
    reserved_ports: Collection[int] | None = None,
) -> Target:
    """The checked target of `url`, resolving its host once; Refused otherwise."""
    parsed = parse_url(url, allow_loopback=allow_loopback, reserved_ports=reserved_ports)
    if parsed.literal is not None:
        addresses = [str(parsed.literal)]
        loopback_allowed = allow_loopback and parsed.host in LOOPBACK_HOSTS
    else:
        try:
            addresses = (resolver or system_resolver)(parsed.host, parsed.port)
        except (OSError, UnicodeError):
            raise Refused("host does not resolve") from None
        loopback_allowed = False
        if not addresses:
            raise Refused("host does not resolve")
    if not loopback_allowed:
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%")[0])
            except ValueError:
                raise Refused("host resolves to an invalid address") from None
            reason = address_refusal(address)
            if reason:
                raise Refused(f"host resolves to an address that {reason}")
    return Target(
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        path=parsed.path,
        address=addresses[0],
        addresses=tuple(addresses),
    )
