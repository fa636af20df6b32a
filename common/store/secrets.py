"""The master key and the keys derived from it (cursor signing, lease ids, agent
secrets, webhook secrets).

In AWS the master key lives in Secrets Manager (`DOCKHAND_MASTER_KEY_SECRET_ID`, set by
Terraform only on the functions granted it: those that derive keys).  It is read with
one `GetSecretValue` on the container's botocore client (common.store.aws) and kept for
the container's life.  Not through powertools Parameters: its module imports boto3 and
s3transfer (~20-25 ms of a cold start for one call botocore makes by itself).

It is read at init (this module's import, which every function that derives keys
does while its handler loads), so a cold container's first request does not wait for
it on top of everything else: Lambda runs init with the full CPU before the first
request, and the figure users wait for (`make bench`, first response) counts it either
way.  A failed read at init is logged and retried on first use, never fatal.  Under
SnapStart (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`) it is not read at init: the key
would live in every snapshot of the version.

Locally and in tests the key comes from `DOCKHAND_MASTER_KEY` and nothing is fetched.
Derived keys mean nothing secret is stored per agent or per cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

from common.runtime.config import ConfigError

_lock = threading.Lock()
_derived: dict[str, bytes] = {}
_master: list[bytes] = []  # the container's master key, once read
_MIN_KEY_LENGTH = 32


def _master_key() -> bytes:
    """Read once per container: every derived key comes from the same value."""
    if _master:
        return _master[0]
    with _lock:
        if not _master:
            _master.append(_read_master_key())
        return _master[0]


def _read_master_key() -> bytes:
    local = os.environ.get("DOCKHAND_MASTER_KEY")
    if local:
        if len(local) < _MIN_KEY_LENGTH:
            raise ConfigError(f"DOCKHAND_MASTER_KEY must be at least {_MIN_KEY_LENGTH} characters")
        return local.encode()
    secret_id = os.environ.get("DOCKHAND_MASTER_KEY_SECRET_ID")
    if not secret_id:
        raise ConfigError("set DOCKHAND_MASTER_KEY or DOCKHAND_MASTER_KEY_SECRET_ID")
    from common.store import aws

    answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    value = answer.get("SecretString")
    if not isinstance(value, str) or len(value) < _MIN_KEY_LENGTH:
        raise ConfigError("the master key secret must be a string of at least 32 characters")
    return value.encode()


def derived_key(purpose: str) -> bytes:
    """HMAC-SHA256(master key, purpose): a stable key per purpose, cached per container."""
    key = _derived.get(purpose)
    if key is None:
        master = _master_key()
        with _lock:
            key = hmac.new(master, purpose.encode(), hashlib.sha256).digest()
            _derived[purpose] = key
    return key


def read_at_init() -> bool:
    """Read the master key now when this is a Lambda container told where the secret is
    (and not a SnapStart init).  True when it was read; a failure is logged, and the
    first derived key tries again."""
    if not _should_read_at_init(os.environ):
        return False
    try:
        _master_key()
    except Exception as exc:  # init must not fail on a transient Secrets Manager error
        from common.runtime.observability import logger

        logger.warning("master key not read at init", extra={"error": type(exc).__name__})
        return False
    return True


def _should_read_at_init(environ: os._Environ[str] | dict[str, str]) -> bool:
    return (
        bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        and bool(environ.get("DOCKHAND_MASTER_KEY_SECRET_ID"))
        and not environ.get("DOCKHAND_MASTER_KEY")
        and environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start"
    )


def reset_secrets() -> None:
    """Forget the master key and derived keys (tests switch master keys)."""
    with _lock:
        _derived.clear()
        _master.clear()


read_at_init()
