"""The status page in Chromium, against `make run` (a gateway of its own) with real
agents sending signed heartbeats: it loads with no console error and no CSP
violation, shows a healthy and a dead agent after the sweeper runs, refreshes by
itself, handles a wrong key, and reads at 360 px wide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import HeartbeatingAgent, save_screenshot, signed_heartbeat, sweep_at
from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e

REFRESH_SECONDS = 1  # ?refresh=1: the page's 10 s, shortened for the tests
# Collects CSP violations in the page (Playwright's init script is exempt from CSP).
CSP_RECORDER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


class Watched:
    """A page with its console errors, uncaught exceptions and CSP violations."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.add_init_script(CSP_RECORDER)

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp"))

    def refreshes(self) -> int:
        return int(self.page.evaluate("Number(document.body.dataset.refreshes || 0)"))


@pytest.fixture(scope="module")
def fleet(page_gateway: Gateway) -> Iterator[dict[str, Any]]:
    """Two agents: `builder-healthy` (600 s interval) heartbeats every second;
    `builder-silent` (10 s interval) sends one heartbeat and then stops."""
    key = page_gateway.key
    healthy = page_gateway.http(
        "POST",
        "/agents",
        key,
        {"name": "builder-healthy", "region": "eu-west-1", "heartbeat_interval_seconds": 600},
    )
    silent = page_gateway.http(
        "POST",
        "/agents",
        key,
        {"name": "builder-silent", "region": "us-east-1", "heartbeat_interval_seconds": 10},
    )
    assert healthy.status == silent.status == 201
    import time

    assert signed_heartbeat(page_gateway, silent.json, int(time.time())) == 200
    beating = HeartbeatingAgent(page_gateway, healthy.json).start()
    event = {"event_type": "deploy.finished", "payload": {"service": "api"}}
    assert page_gateway.http("POST", "/events", key, event).status == 201
    yield {"healthy": healthy.json, "silent": silent.json, "beating": beating}
    beating.stop()
    assert set(beating.statuses) == {200}, beating.statuses


def open_page(browser: Any, gateway: Gateway, width: int = 1000, height: int = 900) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height})
    watched = Watched(context.new_page())
    watched.page.goto(f"{gateway.url}/?refresh={REFRESH_SECONDS}")
    return watched


def sign_in(watched: Watched, key: str) -> None:
    page = watched.page
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Show status").click()


def agent_item(watched: Watched, agent: dict[str, Any]) -> Any:
    return watched.page.locator(f"li[data-agent-id='{agent['agent_id']}']")


def test_healthy_and_dead_agents_after_the_sweeper_runs(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway)
    page = watched.page
    expect(page.get_by_label("API key", exact=True)).to_be_focused()  # asked once, first thing
    sign_in(watched, page_gateway.key)
    healthy, silent = agent_item(watched, fleet["healthy"]), agent_item(watched, fleet["silent"])
    expect(healthy).to_have_attribute("data-status", "healthy")
    expect(silent).to_have_attribute("data-status", "healthy")
    expect(healthy).to_contain_text("CPU 21.5%")
    expect(page.locator("#inbox-pending")).to_have_text("1")

    # The silent agent's 20 intervals (200 s) pass; the sweeper marks it dead.  The page
    # is not reloaded: its own refresh shows the change.
    swept = sweep_at(page_gateway, 300)
    assert swept["marked_dead"] == 1
    assert swept["examined"] == 1  # the heartbeating agent is not due: not even read
    expect(silent).to_have_attribute("data-status", "dead", timeout=10_000)
    expect(page.locator("ul.agents[data-status='dead'] li")).to_have_count(1)
    expect(healthy).to_have_attribute("data-status", "healthy")
    expect(healthy).to_contain_text("Last heartbeat")
    alert = page.locator("#alerts li[data-event-type='agent.dead']")
    expect(alert).to_contain_text("builder-silent")
    expect(alert).to_contain_text("healthy → dead")
    expect(page.locator("#agents-summary")).to_have_text("1 dead · 0 unhealthy · 1 healthy")
    expect(page.locator("#inbox-pending")).to_have_text("2")  # the deploy event + the alert
    tile = page.locator(".tile[data-figure='heartbeats']")
    expect(tile.locator("svg polyline")).to_have_count(1)
    assert int(tile.locator(".value").inner_text()) >= 2
    expect(page.locator("#subs-panel")).to_be_hidden()  # no subscriptions route here yet

    page.wait_for_function("() => Number(document.body.dataset.refreshes) >= 3", timeout=10_000)
    assert "refreshes every 1 s" in page.locator("#updated").inner_text()
    assert page.locator("#updated").get_attribute("aria-live") == "polite"
    assert watched.errors == []
    assert watched.csp_violations() == []
    save_screenshot(page, "status-page.png", tmp_path)
    page.context.close()


def test_the_key_is_kept_for_the_tab_only(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway)
    sign_in(watched, page_gateway.key)
    expect(agent_item(watched, fleet["healthy"])).to_be_visible()
    stored = watched.page.evaluate("[sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [1, 0, ""]
    watched.page.reload()  # same tab: not asked again
    expect(agent_item(watched, fleet["healthy"])).to_be_visible()
    expect(watched.page.get_by_label("API key", exact=True)).to_be_hidden()
    fresh = watched.page.context.new_page()  # another tab: asked again
    fresh.goto(f"{page_gateway.url}/?refresh={REFRESH_SECONDS}")
    expect(fresh.get_by_label("API key", exact=True)).to_be_visible()
    watched.page.get_by_role("button", name="Change API key").click()
    expect(watched.page.get_by_label("API key", exact=True)).to_be_focused()
    assert watched.page.evaluate("sessionStorage.length") == 0
    assert watched.errors == []
    watched.page.context.close()


def test_a_wrong_key_says_so_and_asks_again(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway)
    page = watched.page
    sign_in(watched, "dk_notakey0000000_wrong")
    expect(page.get_by_role("alert").first).to_have_text(
        "That API key was not accepted (401). Check it and enter it again."
    )
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0  # the wrong key is not kept
    # Keyboard only: type the right key, Enter submits.
    page.keyboard.type(page_gateway.key)
    page.keyboard.press("Enter")
    expect(agent_item(watched, fleet["healthy"])).to_be_visible()
    # Signed in, focus moves into the page rather than dropping to <body>.
    expect(page.locator("#agents-title")).to_be_focused()
    # The wrong key cost one refused request (the first panel's), not one per panel; the
    # browser reports it itself and nothing else went wrong.
    assert len(watched.errors) == 1, watched.errors
    assert "401" in watched.errors[0]
    assert watched.csp_violations() == []
    page.context.close()


def test_keyboard_focus_order_and_visible_focus(browser: Any, page_gateway: Gateway) -> None:
    watched = open_page(browser, page_gateway)
    page = watched.page
    assert page.evaluate("document.activeElement.id") == "api-key"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Show status"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # :focus-visible draws a 3 px outline
    page.context.close()


def test_readable_at_360_px(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway, width=360, height=740)
    sign_in(watched, page_gateway.key)
    expect(agent_item(watched, fleet["healthy"])).to_be_visible()
    watched.page.wait_for_function("() => Number(document.body.dataset.refreshes) >= 1")
    widths = watched.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] == 360  # nothing sticks out sideways
    assert watched.errors == []
    save_screenshot(watched.page, "status-page-360.png", tmp_path)
    watched.page.context.close()


def test_an_unknown_route_of_the_page_is_not_requested(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any]
) -> None:
    """The page asks the OpenAPI document which routes exist before it calls them: a
    deployment without subscriptions (here: a document without them) gets no request
    to /subscriptions, so no 404 in the console."""
    watched = open_page(browser, page_gateway)
    requested: list[str] = []

    def without_subscriptions(route: Any) -> None:
        response = route.fetch()
        document = response.json()
        document["paths"] = {
            path: item
            for path, item in document["paths"].items()
            if not path.startswith("/subscriptions")
        }
        route.fulfill(response=response, json=document)

    watched.page.route("**/openapi.json", without_subscriptions)
    watched.page.on("request", lambda r: requested.append(r.url.split("?")[0]))
    sign_in(watched, page_gateway.key)
    watched.page.wait_for_function("() => Number(document.body.dataset.refreshes) >= 2")
    paths = {u.removeprefix(page_gateway.url) for u in requested}
    # The work panel reads each live agent's detail (its held work) and the queues.
    details = {p for p in paths if p.startswith("/agents/") or p.startswith("/queues")}
    assert all(p.count("/") == 2 or p == "/queues" for p in details)
    paths -= details
    assert paths <= {"/openapi.json", "/agents", "/stats", "/inbox", "/subscriptions"}
    assert "/subscriptions" not in paths
    assert all(u.startswith(page_gateway.url) for u in requested)  # same origin only
    watched.page.context.close()


def test_dark_mode_follows_the_system_setting(browser: Any, page_gateway: Gateway) -> None:
    def background(scheme: str) -> str:
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.goto(f"{page_gateway.url}/")
        colour = str(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        context.close()
        return colour

    assert background("light") == "rgb(246, 247, 249)"
    assert background("dark") == "rgb(18, 22, 28)"


def test_empty_states_say_what_to_do_next(browser: Any, page_gateway: Gateway) -> None:
    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway)
    sign_in(watched, page_gateway.create_key("newcomer", "viewer"))
    page = watched.page
    expect(page.locator("#agents")).to_contain_text("No agents yet. Register one with POST /agents")
    expect(page.locator("#alerts")).to_contain_text("No pending agent alerts.")
    expect(page.locator("#inbox-hint")).to_have_text(
        "The inbox is empty: nothing is waiting for a consumer."
    )
    expect(page.locator(".tile[data-figure='events_received'] .value")).to_have_text("0")
    assert watched.errors == []
    page.context.close()


def test_subscription_health_shows_when_the_route_answers(
    browser: Any, page_gateway: Gateway
) -> None:
    """Subscriptions are another engineer's routes: stand in for them in the browser
    (same origin, so the page's CSP allows it) and check the panel."""
    import json

    from playwright.sync_api import expect

    watched = open_page(browser, page_gateway)
    page = watched.page

    def openapi_with_subscriptions(route: Any) -> None:
        document = route.fetch().json()
        document["paths"]["/subscriptions"] = {"get": {}}
        route.fulfill(json=document)

    items = [
        {"url": "https://hooks.example.com/a", "status": "active", "consecutive_failures": 0,
         "last_success_at": "2026-12-01T08:00:00.000Z", "last_failure_at": None,
         "failing_since": None, "paused_at": None},
        {"url": "https://hooks.example.com/b", "status": "active", "consecutive_failures": 3,
         "last_success_at": None, "last_failure_at": "2026-12-01T08:00:00.000Z",
         "failing_since": None, "paused_at": None},
        {"url": "https://hooks.example.com/c", "status": "disabled", "consecutive_failures": 5,
         "last_success_at": None, "last_failure_at": "2026-12-01T08:00:00.000Z",
         "failing_since": "2026-11-28T08:00:00.000Z", "paused_at": None},
        {"url": "https://hooks.example.com/d", "status": "paused", "consecutive_failures": 0,
         "last_success_at": "2026-12-01T08:00:00.000Z", "last_failure_at": None,
         "failing_since": None, "paused_at": "2026-12-01T09:00:00.000Z"},
        {"url": "https://hooks.example.com/e", "status": "active", "consecutive_failures": 0,
         "last_success_at": "2026-12-01T07:00:00.000Z",
         "last_failure_at": "2026-12-01T08:00:00.000Z",
         "failing_since": "2026-12-01T07:30:00.000Z", "paused_at": None},
    ]  # fmt: skip
    page.route("**/openapi.json", openapi_with_subscriptions)
    page.route(
        "**/subscriptions?*",
        lambda route: route.fulfill(
            content_type="application/json",
            body=json.dumps({"items": items, "next_cursor": None, "has_more": False}),
        ),
    )
    sign_in(watched, page_gateway.key)
    panel = page.locator("#subs-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("li")).to_have_count(5)
    badges = panel.locator("li .badge").all_inner_texts()
    assert badges == ["healthy", "failing", "disabled", "paused", "failing"]
    # Paused: since when; failing within retries (no exhausted event yet): since when.
    expect(panel.locator("li[data-health='paused'] .figures")).to_contain_text("Paused ")
    expect(panel.locator("li").nth(4).locator(".figures")).to_contain_text("Failing since ")
    expect(page.locator("#subs-summary")).to_have_text("1 paused · 2 failing · 1 disabled of 5")
    assert watched.errors == []
    assert watched.csp_violations() == []
    page.context.close()


def test_work_panel_shows_held_work_and_job_outcomes(
    browser: Any, page_gateway: Gateway, fleet: dict[str, Any]
) -> None:
    """A worker agent leases a job with its own signature: the page shows what it holds
    and today's job outcomes (its own section of the page)."""
    from playwright.sync_api import expect

    from tests.browser.conftest import signed_call

    key = page_gateway.key
    made = page_gateway.http(
        "POST", "/agents", key, {"name": "page-worker", "heartbeat_interval_seconds": 600}
    )
    assert made.status == 201
    job = {"event_type": "page.job", "payload": {"n": 1}}
    assert page_gateway.http("POST", "/events", key, job).status == 201
    leased = signed_call(page_gateway, made.json, "lease", {"event_type": "page.job"})
    assert leased.status == 200
    assert len(leased.json["items"]) == 1
    watched = open_page(browser, page_gateway)
    sign_in(watched, key)
    page = watched.page
    expect(page.locator("#jobs-today")).to_contain_text("Jobs today: ")
    held = page.locator(f"#agent-work li[data-agent-id='{made.json['agent_id']}']")
    expect(held).to_have_attribute("data-leased", "1")
    expect(held).to_contain_text("page-worker")
    assert watched.errors == []
    assert watched.csp_violations() == []
    acked = signed_call(
        page_gateway,
        made.json,
        "ack",
        {"lease_id": leased.json["lease_id"], "outcome": "succeeded", "result": {"ok": True}},
    )
    assert acked.status == 200
    expect(page.locator("#jobs-today")).to_contain_text("1 succeeded", timeout=10_000)
    expect(held).to_have_count(0, timeout=10_000)
    page.context.close()


def test_each_named_queue_shows_its_backlog(browser: Any, page_gateway: Gateway) -> None:
    from playwright.sync_api import expect

    key = page_gateway.key
    made = page_gateway.http(
        "POST", "/queues", key, {"name": "page-jobs", "event_types": ["job.*"]}
    )
    assert made.status == 201, made.body
    event = {"event_type": "job.build", "payload": {"n": 1}}
    assert page_gateway.http("POST", "/events", key, event).status == 201
    watched = open_page(browser, page_gateway)
    page = watched.page
    sign_in(watched, key)
    item = page.locator("#queues li[data-queue='page-jobs']")
    expect(item).to_contain_text("1 pending", timeout=10_000)
    expect(item).to_contain_text("0 leased · 0 quarantined")
    assert watched.errors == []
    assert watched.csp_violations() == []
    page.context.close()
    assert page_gateway.http("DELETE", "/queues/page-jobs", key).status == 204
