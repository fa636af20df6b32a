"""Redaction test support: one sample of each secret kind the redactor knows, and the
check that none of them is left in a text (shared by the test_redact*.py modules)."""

from __future__ import annotations

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_" + "A1b2C3d4E5" * 3 + "abcdef"
SLACK = "xoxb-123456789012-abcdefghijklmnop"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAzx0\nq83jd==\n-----END RSA PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
GITLAB = "glpat-" + "x1y2z3" * 4
SECRETS = [
    AWS_ID,
    AWS_SECRET,
    GITHUB,
    SLACK,
    "MIIEpAIBAAKCAQEAzx0",
    JWT,
    STRIPE,
    GITLAB,
    "hunter22",
]


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
