"""GET /: one HTML document with its CSS and JS inline, served under a strict,
hash-based Content-Security-Policy (no 'unsafe-inline', nothing third-party); and
the new routes' real answers match the OpenAPI document.  The page's behaviour in a
real browser: tests/browser/test_status_page.py."""

from __future__ import annotations

import base64
import hashlib
import re

from tests.conftest import ApiClient, Keys
from tests.unit.agents_support import heartbeat, register
from tests.unit.test_openapi import assert_documented


def csp(result_headers: dict[str, str]) -> dict[str, str]:
    policy = result_headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in policy.split("; ")}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_is_served_without_a_key_under_a_strict_policy(api: ApiClient) -> None:
    result = api.get("/")
    assert result.status == 200
    assert result.headers["Content-Type"] == "text/html; charset=utf-8"
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    assert result.headers["Referrer-Policy"] == "no-referrer"
    assert result.headers["X-Frame-Options"] == "DENY"
    policy = csp(result.headers)
    (script,) = re.findall(r"<script>(.*?)</script>", result.text, flags=re.DOTALL)
    (style,) = re.findall(r"<style>(.*?)</style>", result.text, flags=re.DOTALL)
    assert policy["script-src"] == sha256(script)
    assert policy["style-src"] == sha256(style)
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in result.headers["Content-Security-Policy"]


def test_the_page_is_one_self_contained_document(api: ApiClient) -> None:
    page = api.get("/").text
    assert page.count("<script") == 1
    assert page.count("<style") == 1
    assert " style=" not in page  # inline style attributes would need 'unsafe-hashes'
    assert not re.search(r"\b(src|href)=\"(?!data:)", page)  # nothing loaded from anywhere
    assert "innerHTML" not in page  # every value is set as text, never parsed as markup
    # The one URL is the SVG namespace, which is a name, not a request.
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert "sessionStorage" in page
    assert "localStorage" not in page


def test_the_page_takes_only_the_refresh_parameter(api: ApiClient) -> None:
    assert api.get("/", query={"refresh": "1"}).status == 200
    other = api.get("/", query={"key": "dk_x"})
    assert other.status == 400
    assert other.json["error"]["details"][0]["field"] == "key"


def test_new_routes_answer_as_documented(api: ApiClient, keys: Keys) -> None:
    k = keys.creator
    agent = register(api, k, heartbeat_interval_seconds=60)
    assert heartbeat(api, agent).status == 200
    path = f"/agents/{agent['agent_id']}"
    assert_documented("GET /agents/{agent_id}/history", api.get(f"{path}/history", key=k))
    rotated = api.post(f"{path}/rotate-secret", key=k)
    assert_documented("POST /agents/{agent_id}/rotate-secret", rotated)
    stats_range = api.get("/stats", key=k, query={"from": "2026-01-01", "to": "2026-01-03"})
    assert_documented("GET /stats", stats_range)
    assert_documented("GET /stats", api.get("/stats", key=k))
    assert_documented("DELETE /agents/{agent_id}", api.delete(path, key=k))
    assert_documented("DELETE /agents/{agent_id}", api.delete(path, key=k))  # 404
