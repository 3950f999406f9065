"""Browser-test harness: Playwright for Python driving Debian's chromium against the live server."""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls in our fixtures are still
# synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI") or os.environ.get("STEWARD_REQUIRE_SERVICES"):
            pytest.fail("Debian's chromium is required for browser tests in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture
def login(live_server):
    """login(page, username) signs in through the real login form."""

    def do_login(page, username, password="pw-for-tests-1"):
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return do_login


@pytest.fixture
def release_agent_request(role_users):
    """The owner's `release-agent` (an AI agent that reads platform/*) asks to merge to platform/api in
    prod for 45 minutes: a just-in-time request waiting for IAM."""
    from inventory.models import Identity
    from tests.factories import GrantFactory, IdentityFactory, request_merge_access

    agent = IdentityFactory(
        name="release-agent", kind=Identity.Kind.AI_AGENT, owner=role_users["owner"], environments=["prod"]
    )
    GrantFactory(identity=agent, resource_name="platform/*", actions=["read_code"])
    return request_merge_access(
        role_users["owner"], agent, duration_minutes=45, reason="Merge the release branch", task_ref="REL-12"
    )
