"""Opaque, unique ids that sort in creation order (ULID: 48-bit ms time + 80 random bits)."""

from __future__ import annotations

import os
import threading

from common.runtime import clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: sorts like the number
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id() -> str:
    """A 26-character ULID, strictly increasing within this process."""
    global _last_ms, _last_random
    ms = int(clock.now() * 1000)
    with _lock:
        if ms <= _last_ms:
            # Same millisecond (or a clock step back): keep order by incrementing.
            ms = _last_ms
            _last_random = (_last_random + 1) % (1 << 80)
        else:
            _last_ms = ms
            _last_random = int.from_bytes(os.urandom(10), "big") >> 1
        random_part = _last_random
    return _encode(ms, 10) + _encode(random_part, 16)


def is_valid_id(value: str) -> bool:
    return len(value) == 26 and all(ch in _ALPHABET for ch in value)
