"""The master key and the keys derived from it (cursor signing, agent secrets).

In AWS the master key lives in Secrets Manager (`DOCKHAND_MASTER_KEY_SECRET_ID`),
fetched once per container through powertools Parameters and cached.  Locally
and in tests it comes from `DOCKHAND_MASTER_KEY`.  Derived keys mean nothing
secret is stored per agent or per cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from functools import lru_cache

from common.runtime.config import ConfigError

_lock = threading.Lock()
_derived: dict[str, bytes] = {}
_MIN_KEY_LENGTH = 32


@lru_cache(maxsize=1)
def _master_key() -> bytes:
    """Read once per container: every derived key comes from the same value."""
    local = os.environ.get("DOCKHAND_MASTER_KEY")
    if local:
        if len(local) < _MIN_KEY_LENGTH:
            raise ConfigError(f"DOCKHAND_MASTER_KEY must be at least {_MIN_KEY_LENGTH} characters")
        return local.encode()
    secret_id = os.environ.get("DOCKHAND_MASTER_KEY_SECRET_ID")
    if not secret_id:
        raise ConfigError("set DOCKHAND_MASTER_KEY or DOCKHAND_MASTER_KEY_SECRET_ID")
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from common.store import aws

    provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
    value = provider.get(secret_id, max_age=3600)
    if not isinstance(value, str) or len(value) < _MIN_KEY_LENGTH:
        raise ConfigError("the master key secret must be a string of at least 32 characters")
    return value.encode()


def derived_key(purpose: str) -> bytes:
    """HMAC-SHA256(master key, purpose): a stable key per purpose, cached per container."""
    key = _derived.get(purpose)
    if key is None:
        with _lock:
            key = hmac.new(_master_key(), purpose.encode(), hashlib.sha256).digest()
            _derived[purpose] = key
    return key


def reset_secrets() -> None:
    """Forget derived keys (tests switch master keys)."""
    with _lock:
        _derived.clear()
        _master_key.cache_clear()
