"""The one definition of a slug: thread ids, agent names and tenants are slugs.

Every place that validates one uses these, so the rule and the message a user sees
when a value breaks it (HTTP error details, the CLI) are the same everywhere.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SLUG_RULE = "1-64 of a-z 0-9 . _ -, starting with a letter or digit"
SLUG_MESSAGE = f"must be a slug: {SLUG_RULE}"

_SLUG = re.compile(SLUG_PATTERN)

# For pydantic models; common.runtime.http turns its pattern error into SLUG_MESSAGE.
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]


def is_slug(value: str) -> bool:
    return bool(_SLUG.fullmatch(value))
