"""The SSRF guard: the table of refused URLs and addresses, DNS answers, rebinding."""

from __future__ import annotations

import pytest

from common.triggers import ssrf


class FakeResolver:
    """Answers from a table; `answers` lists one answer per call (rebinding)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


PUBLIC = ["93.184.216.34"]


def test_a_public_https_url_is_allowed_and_keeps_host_port_and_path() -> None:
    resolver = FakeResolver(PUBLIC)
    target = ssrf.check("https://Hooks.Example.com/in?x=1", resolver=resolver)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)
    assert target.path == "/in?x=1"
    assert target.address == "93.184.216.34"
    assert target.host_header == "hooks.example.com"
    assert resolver.calls == [("hooks.example.com", 443)]


def test_port_8443_is_allowed_and_shows_in_the_host_header() -> None:
    target = ssrf.check("https://example.com:8443/", resolver=FakeResolver(PUBLIC))
    assert target.port == 8443
    assert target.host_header == "example.com:8443"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",  # not https
        "ftp://example.com/",
        "https://example.com:80/",
        "https://example.com:444/",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https://user:pass@example.com/",  # userinfo
        "https://example.com@169.254.169.254/",
        "https://169.254.169.254@example.com/",
        "https://exa mple.com/",
        "https://example.com\\@evil/",
        "https:///nohost",
        "https://example.com/#frag",
        "https://localhost/",
        "https://api.localhost/",
        "https://2130706433/",  # decimal 127.0.0.1
        "https://0x7f000001/",  # hex
        "https://0x7f.1/",
        "https://0177.0.0.1/",  # octal
        "https://127.1/",  # short form
        "https://127.0.1/",
        "https://017700000001/",
        "https://1.2.3.04/",
        "https://example.123/",  # numeric last label
        "https://[fe80::1%25eth0]/",  # zone id
        "https://-bad-.example.com/",
        "",
        "not a url",
        "https://" + "a" * 2100 + ".com/",
        "https://exämple.com/",
    ],
)
def test_refused_url_forms(url: str) -> None:
    resolver = FakeResolver(PUBLIC)
    with pytest.raises(ssrf.Refused):
        ssrf.check(url, resolver=resolver)
    assert resolver.calls == []  # refused before any DNS lookup


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.255",
        "169.254.169.254",  # the metadata service
        "169.254.0.1",
        "0.0.0.0",  # noqa: S104 - a refused target, not a bind
        "0.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "192.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",  # ULA
        "fe80::1",  # link-local
        "fec0::1",
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of the metadata address
        "2001:db8::1",
        "2001::1",  # Teredo
        "100::1",
    ],
)
def test_forbidden_addresses_are_refused_from_dns(address: str) -> None:
    with pytest.raises(ssrf.Refused, match="address"):
        ssrf.check("https://hooks.example.com/", resolver=FakeResolver([address]))


@pytest.mark.parametrize(
    "literal",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[fd00::1]",
        "[fe80::1]",
        "[ff02::1]",
        "[64:ff9b::7f00:1]",
    ],
)
def test_forbidden_ip_literals_are_refused_without_dns(literal: str) -> None:
    resolver = FakeResolver(PUBLIC)
    with pytest.raises(ssrf.Refused):
        ssrf.check(f"https://{literal}/", resolver=resolver)
    assert resolver.calls == []


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::1", "::ffff:8.8.8.8", "2002:808:808::1"],
)
def test_public_unicast_addresses_pass(address: str) -> None:
    target = ssrf.check("https://hooks.example.com/", resolver=FakeResolver([address]))
    assert target.address == address


def test_public_ip_literal_passes_without_dns() -> None:
    resolver = FakeResolver(PUBLIC)
    target = ssrf.check("https://8.8.8.8/hook", resolver=resolver)
    assert target.address == "8.8.8.8"
    assert resolver.calls == []


def test_an_answer_mixing_public_and_private_addresses_is_refused() -> None:
    resolver = FakeResolver(["93.184.216.34", "10.0.0.7"])
    with pytest.raises(ssrf.Refused):
        ssrf.check("https://hooks.example.com/", resolver=resolver)
    resolver = FakeResolver(["2606:2800:220:1::1", "::ffff:127.0.0.1"])
    with pytest.raises(ssrf.Refused):
        ssrf.check("https://hooks.example.com/", resolver=resolver)


def test_unresolvable_and_empty_answers_are_refused() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("NXDOMAIN")

    with pytest.raises(ssrf.Refused, match="resolve"):
        ssrf.check("https://nowhere.example/", resolver=failing)
    with pytest.raises(ssrf.Refused, match="resolve"):
        ssrf.check("https://nowhere.example/", resolver=FakeResolver([]))


def test_rebinding_resolver_is_asked_once_and_the_checked_address_is_kept() -> None:
    """First answer public, second private: the target holds the first, and nothing asks
    again (outbound connects to `target.address`, see test_outbound)."""
    resolver = FakeResolver(["93.184.216.34"], ["127.0.0.1"])
    target = ssrf.check("https://rebind.example.com/", resolver=resolver)
    assert target.address == "93.184.216.34"
    assert len(resolver.calls) == 1


def test_loopback_targets_only_with_the_local_setting() -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://localhost:9000/", "https://localhost:4443/"):
        with pytest.raises(ssrf.Refused):
            ssrf.check(url, resolver=FakeResolver(PUBLIC))
        target = ssrf.check(url, resolver=FakeResolver(["10.0.0.1"]), allow_loopback=True)
        assert target.address == "127.0.0.1"
    target = ssrf.check("http://localhost:9000/x", allow_loopback=True)
    assert (target.scheme, target.port, target.path, target.host_header) == (
        "http",
        9000,
        "/x",
        "localhost:9000",
    )


def test_local_setting_does_not_open_other_private_targets() -> None:
    for url in ("http://10.0.0.1:80/", "http://127.0.0.2:80/", "http://example.com/"):
        with pytest.raises(ssrf.Refused):
            ssrf.check(url, resolver=FakeResolver(PUBLIC), allow_loopback=True)
    with pytest.raises(ssrf.Refused):
        ssrf.check(
            "https://hooks.example.com/", resolver=FakeResolver(["127.0.0.1"]), allow_loopback=True
        )


def test_system_resolver_answers_for_an_ip_literal() -> None:
    assert ssrf.system_resolver("127.0.0.1", 443) == ["127.0.0.1"]


# --------------------------------------------------------------------------- IPv6 classes

# One address at each end of every forbidden IPv4 range, and public ones.
FORBIDDEN_V4 = [
    str(address)
    for network in ssrf._V4_FORBIDDEN
    for address in (network.network_address, network.broadcast_address)
]
PUBLIC_V4 = ["8.8.8.8", "93.184.216.34", "1.1.1.1"]


def _embed(form: str, v4: str) -> str:
    """`v4` written in one of the IPv4-embedding IPv6 forms."""
    import ipaddress

    value = int(ipaddress.IPv4Address(v4))
    base = {
        "mapped": (0xFFFF << 32, 0),
        "translated": (0xFFFF << 48, 0),
        "nat64": (0x64FF9B << 96, 0),
        "compatible": (0, 0),
        "6to4": (0x2002 << 112, 80),
    }[form]
    return str(ipaddress.IPv6Address(base[0] | (value << base[1])))


EMBEDDING_FORMS = ["mapped", "translated", "nat64", "compatible", "6to4"]


@pytest.mark.parametrize("form", EMBEDDING_FORMS)
@pytest.mark.parametrize("v4", FORBIDDEN_V4)
def test_every_ipv4_embedding_form_of_a_forbidden_address_is_refused(form: str, v4: str) -> None:
    address = _embed(form, v4)
    with pytest.raises(ssrf.Refused, match="address"):
        ssrf.check("https://hooks.example.com/", resolver=FakeResolver([address]))
    with pytest.raises(ssrf.Refused):
        ssrf.check(f"https://[{address}]/")


@pytest.mark.parametrize("form", EMBEDDING_FORMS)
@pytest.mark.parametrize("v4", PUBLIC_V4)
def test_every_ipv4_embedding_form_is_judged_by_its_ipv4_address(form: str, v4: str) -> None:
    address = _embed(form, v4)
    assert ssrf.check("https://hooks.example.com/", resolver=FakeResolver([address])).address
    assert str(ssrf.embedded_ipv4(__import__("ipaddress").IPv6Address(address))) == v4


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1 (issue #25)
        "::ffff:0:7f00:1",
        "5f00::1",  # SRv6 SIDs: outside global unicast (issue #25)
        "4000::1",
        "8000::1",
        "e000::1",
        "3fff::1",  # documentation (RFC 9637)
        "2001:2::1",  # benchmarking
        "2001:20::1",  # ORCHIDv2
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "64:ff9b:1::808:808",  # local-use NAT64, whatever it carries
        "64:ff9b:2::1",  # not the NAT64 /96: outside 2000::/3
        "::2",  # compatible 0.0.0.2
    ],
)
def test_ipv6_outside_global_unicast_or_in_special_ranges_is_refused(address: str) -> None:
    with pytest.raises(ssrf.Refused, match="address"):
        ssrf.check("https://hooks.example.com/", resolver=FakeResolver([address]))


def test_ipv6_outside_2000_3_is_refused_across_the_space() -> None:
    import ipaddress
    import random

    rng = random.Random(25)
    checked = 0
    while checked < 2000:
        address = ipaddress.IPv6Address(rng.getrandbits(128))
        if address in ssrf.GLOBAL_UNICAST or ssrf.embedded_ipv4(address) is not None:
            continue
        assert ssrf.address_refusal(address) is not None, address
        checked += 1


# --------------------------------------------------------------------------- make run's ports


def test_loopback_exception_never_reaches_the_reserved_ports() -> None:
    reserved = {3000, 54321}
    for url in ("http://127.0.0.1:3000/", "http://localhost:54321/moto-api/reset"):
        with pytest.raises(ssrf.Refused, match="any port except 3000 and 54321"):
            ssrf.check(url, allow_loopback=True, reserved_ports=reserved)
    assert ssrf.check("http://127.0.0.1:3001/", allow_loopback=True, reserved_ports=reserved)
    with pytest.raises(ssrf.Refused, match="port 80"):  # the scheme's default port counts
        ssrf.check("http://localhost/", allow_loopback=True, reserved_ports={80})
    with pytest.raises(ssrf.Refused, match="port 443"):
        ssrf.check("https://localhost./", allow_loopback=True, reserved_ports={443})


def test_the_reserved_ports_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from common.runtime.config import ConfigError, reset_settings
    from common.triggers import outbound

    monkeypatch.setenv("DOCKHAND_LOOPBACK_RESERVED_PORTS", "3000, 54321")
    reset_settings()
    try:
        with pytest.raises(ssrf.Refused, match="gateway or AWS emulator"):
            ssrf.check("http://127.0.0.1:54321/moto-api/reset", allow_loopback=True)
        result = outbound.deliver("http://localhost:3000/events", b"{}", {}, allow_loopback=True)
        assert (result.outcome, result.status_code) == ("ssrf_refused", None)
        with pytest.raises(ssrf.Refused, match="https:// URL, or http\\(s\\)://localhost"):
            ssrf.check("http://example.com/", allow_loopback=True)
        monkeypatch.setenv("DOCKHAND_LOOPBACK_RESERVED_PORTS", "3000,http")
        reset_settings()
        with pytest.raises(ConfigError):
            ssrf.check("http://127.0.0.1:1/", allow_loopback=True)
    finally:
        monkeypatch.delenv("DOCKHAND_LOOPBACK_RESERVED_PORTS")
        reset_settings()
