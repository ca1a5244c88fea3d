"""End to end: Debian's headless Chromium, driven by Playwright, against a real `jiefen serve`.

The browser is the system one (``/usr/bin/chromium``, from apt): Playwright's own browser builds
are never downloaded. Where Chromium or Playwright is missing the suite is skipped on a developer
machine but *fails* when ``JIEFEN_REQUIRE_BROWSER=1`` (scripts/test sets it), so a green CI run
always includes the browser.

Every page a test opens is watched: a console error (Chromium reports each Content-Security-Policy
violation there), an uncaught script error or a request to any host but the server fails the test.
Full-page screenshots of each journey's steps are kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)

from tests.builders import CONSENTED_TRIGGERS, case_body, consents
from tests.live_server import DEMO_PASSWORD, Server

CHROMIUM = os.environ.get("JIEFEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("JIEFEN_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# A village mediator's phone: 360 CSS pixels wide, touch, the mobile viewport meta honoured.
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}}


def _unavailable(message: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(message + " (JIEFEN_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # 60 demo cases: enough for every state to appear (see service/demo.py PATHS), quick to seed.
    server = Server(tmp_path_factory.mktemp("web-server"), demo_cases=60)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    # Chromium's sandbox refuses to start as root (CI runs as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


class Web:
    """Browser contexts for one test, each watched for console errors and foreign requests."""

    def __init__(self, browser: Browser, server: Server, test_name: str) -> None:
        self.browser = browser
        self.server = server
        self.name = re.sub(r"^test_", "", re.sub(r"[^\w-]+", "_", test_name))
        self.problems: list[str] = []
        self.expected_statuses: set[int] = set()
        self.contexts: list[BrowserContext] = []

    def context(self, *, phone: bool = False, javascript: bool = True) -> BrowserContext:
        context = self.browser.new_context(
            base_url=self.server.base,
            locale="zh-CN",
            java_script_enabled=javascript,
            **(PHONE if phone else DESKTOP),
        )
        context.set_default_timeout(10_000)
        context.on("console", self._console)
        context.on("weberror", lambda e: self.problems.append(f"script error: {e.error}"))
        context.on("request", self._request)
        context.on("response", self._response)
        self.contexts.append(context)
        return context

    def page(self, username: str | None = None, *, phone: bool = False) -> Page:
        page = self.context(phone=phone).new_page()
        if username:
            sign_in(page, username)
        return page

    def shot(self, page: Page, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{self.name}-{step}.png", full_page=True)

    def api(self, username: str) -> Api:
        return Api(self.server, username)

    def expect_status(self, *statuses: int) -> None:
        """Pages this test means to get answered with an error status (a 409, a 422 form)."""
        self.expected_statuses.update(statuses)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource"; _response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(
                f"console error on {message.page.url if message.page else '?'}: {message.text}"
            )

    def _request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            self.problems.append(f"request to another host: {request.url}")

    def _response(self, response: Response) -> None:
        if response.status < 400:
            return
        if response.request.resource_type != "document" or response.status not in self.expected_statuses:
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Web]:
    web = Web(browser, server, request.node.name)
    yield web
    web.close()
    assert not web.problems, "\n".join(web.problems)


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/signin")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/signin" not in url)


class Api:
    """Arranging a test's own cases through the HTTP API, as the user named."""

    def __init__(self, server: Server, username: str) -> None:
        self.base = server.base
        self.headers = server.token(username)

    def open_case(self, **overrides: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/api/v1/cases", json=case_body(**overrides), headers=self.headers, timeout=10
        )
        assert response.status_code == 201, response.text
        case: dict[str, Any] = response.json()
        return case

    def case(self, case_id: int) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/api/v1/cases/{case_id}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def fire(self, case: dict[str, Any], trigger: str, **fields: Any) -> dict[str, Any]:
        if trigger in CONSENTED_TRIGGERS and "consents" not in fields:
            fields["consents"] = consents(case)  # every party consented, as tests/builders.py does
        response = httpx.post(
            f"{self.base}/api/v1/cases/{case['id']}/transitions",
            json={"trigger": trigger, **fields},
            headers={**self.headers, "If-Match": f'"{case["version"]}"'},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        moved: dict[str, Any] = response.json()
        return moved


def fits_phone(page: Page) -> None:
    """Nothing sticks out sideways on a 360-pixel phone: no horizontal scrolling."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width}px wide on a 360px phone"
