"""The operator's status page (GET /): one HTML document that asks for an API key and
reads the API itself, served with a Content-Security-Policy that allows exactly its own
inline script and style; and GET /status's answer."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, with_config

# typing_extensions: pydantic reads TypedDicts from it on Python < 3.12 (a pydantic dependency).
from typing_extensions import TypedDict

from common.runtime.config import settings
from common.runtime.models import QueryModel, query_int

_PAGE_PATH = Path(__file__).with_name("status_page.html")


@lru_cache(maxsize=1)
def status_page() -> tuple[str, dict[str, str]]:
    """The page and its headers, built once per container: the CSP allows exactly the
    page's one inline script and one inline style, by SHA-256, and nothing else."""
    page = _PAGE_PATH.read_text("utf-8")
    hashes = {
        tag: "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for tag in ("script", "style")
        for block in re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    }
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {hashes['script']}",
            f"style-src {hashes['style']}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }
    return page, headers


class PageOptions(QueryModel):
    """GET /'s query: only ?refresh=N (tests shorten the 10 s refresh)."""

    refresh: Annotated[int, query_int(1, 3600)] | None = None


@with_config(ConfigDict(extra="forbid", title="Status"))
class StatusView(TypedDict):
    status: Literal["ok"]
    version: str


def status_view() -> StatusView:
    return {"status": "ok", "version": settings().version}
