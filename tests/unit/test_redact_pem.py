"""Server-side redaction of PEM private keys: every variant, whole, headers and CRLF
included, truncated or flattened, in the API's redactor and the CLI's."""

from __future__ import annotations

from collections import Counter

import pytest

from common.context import redact

# --- PEM private keys: every variant, whole, headers and CRLF included ----------------

PEM_BODY_LINES = (
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "q83jd==",
)
PEM_LABELS = (
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
)
# Both header forms: RFC 1421 (OpenSSL's traditional encrypted keys) and RFC 4880 armor
# headers (PGP), the latter with a folded value and a dash in it.
PEM_HEADERS = {
    "none": (),
    "rfc1421": ("Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,5E2A0B9C1D3E4F5A6B7C8D9E0F1A2B3C"),
    "armor": ("Version: GnuPG v2", "Comment: key for ci - do not", "  share it anywhere", ""),
}


def pem_block(label: str, headers: tuple[str, ...], newline: str, end: bool = True) -> str:
    blank = [""] if headers and headers[-1] != "" else []
    lines = [f"-----BEGIN {label}-----", *headers, *blank, *PEM_BODY_LINES]
    if end:
        lines.append(f"-----END {label}-----")
    return newline.join(lines)


def _assert_no_key_material(text: str) -> None:
    for secret in (*PEM_BODY_LINES, "Proc-Type", "DEK-Info", "5E2A0B9C", "GnuPG", "share it"):
        assert secret not in text


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("headers", list(PEM_HEADERS), ids=list(PEM_HEADERS))
@pytest.mark.parametrize("label", PEM_LABELS)
def test_a_pem_private_key_is_redacted_whole_up_to_its_end_line(
    label: str, headers: str, newline: str
) -> None:
    block = pem_block(label, PEM_HEADERS[headers], newline)
    text = f"before{newline}{block}{newline}after: the rest stays"
    found: Counter[str] = Counter()
    cleaned = redact.redact_text(text, found)
    assert cleaned == f"before{newline}[REDACTED:private_key]{newline}after: the rest stays"
    assert found == {"private_key": 1}


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("headers", list(PEM_HEADERS), ids=list(PEM_HEADERS))
@pytest.mark.parametrize("label", PEM_LABELS)
def test_a_truncated_pem_block_does_not_leak_its_body(
    label: str, headers: str, newline: str
) -> None:
    block = pem_block(label, PEM_HEADERS[headers], newline, end=False)
    for tail in ("", f"{newline}", f"{newline}{newline}thanks, see you tomorrow."):
        found: Counter[str] = Counter()
        cleaned = redact.redact_text(f"paste: {block}{tail}", found)
        _assert_no_key_material(cleaned)
        assert cleaned == f"paste: [REDACTED:private_key]{tail}"  # prose after it stays
        assert found == {"private_key": 1}


@pytest.mark.parametrize(
    "flattened",
    [
        "-----BEGIN PRIVATE KEY----- {0} {1} {2} -----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\\n{0}\\n{1}\\n{2}\\n-----END PRIVATE KEY-----",  # JSON-escaped
        "-----BEGIN PRIVATE KEY----- {0} {1} {2}",  # truncated, on one line
        "-----BEGIN PRIVATE KEY-----\\n{0}\\n{1}\\n{2}",
        "-----BEGIN PRIVATE KEY-----\n{0}\n{1}\n{2}, and then the text went on",
    ],
)
def test_a_pem_key_flattened_onto_one_line_is_redacted(flattened: str) -> None:
    cleaned = redact.redact_text(flattened.format(*PEM_BODY_LINES))
    _assert_no_key_material(cleaned)
    assert cleaned.startswith("[REDACTED:private_key]")


def test_a_truncated_block_ends_where_the_next_block_begins() -> None:
    first = pem_block("EC PRIVATE KEY", PEM_HEADERS["rfc1421"], "\n", end=False)
    second = pem_block("RSA PRIVATE KEY", (), "\n")
    found: Counter[str] = Counter()
    cleaned = redact.redact_text(f"{first}\n{second}\nok", found)
    assert cleaned == "[REDACTED:private_key]\n[REDACTED:private_key]\nok"
    assert found == {"private_key": 2}


def test_public_pem_blocks_and_prose_about_keys_are_left_alone() -> None:
    for text in (
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----",
        "a key file starts with -----BEGIN and a type",
    ):
        assert redact.redact_text(text) == text


def test_the_cli_removes_a_whole_pem_block_before_its_line_scan() -> None:
    """detect-secrets reads lines: alone it replaced the BEGIN line and left the body."""
    from detect_secrets.settings import transient_settings

    from tools.cli import secretscan

    scanner = secretscan.Scanner()
    block = pem_block("RSA PRIVATE KEY", PEM_HEADERS["rfc1421"], "\r\n")
    with transient_settings({"plugins_used": [{"name": n} for n in secretscan.PLUGINS]}):
        cleaned = scanner.clean(f"goal\n{block}\nafter", "--goal")
    assert cleaned == "goal\n[REDACTED:private_key]\nafter"
    assert [f.kind for f in scanner.findings] == ["private_key"]
