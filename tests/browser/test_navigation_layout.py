"""The grouped navigation (issue 22 item 1): it fits at 1280 px for every role and collapses on a phone."""

import pytest

from tests.browser.nav import click_nav, nav_link, sign_out_button

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ["owner", "iam", "security", "auditor", "outsider"]
GROUPS = {
    "owner": ["Work", "Estate"],
    "iam": ["Work", "Estate", "Policy", "Assurance"],
    "security": ["Work", "Estate", "Policy", "Assurance"],
    "auditor": ["Work", "Estate", "Policy", "Assurance"],
    "outsider": [],
}


def _horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def _group_labels(page) -> list[str]:
    return [
        text.strip()
        for text in page.get_by_test_id("main-nav").locator("[data-bs-toggle=dropdown]").all_inner_texts()
    ]


@pytest.mark.parametrize("username", ROLES)
def test_the_bar_fits_at_1280_px_and_sign_out_is_in_reach(page, live_server, login, role_users, username):
    page.set_viewport_size({"width": 1280, "height": 800})
    login(page, username)
    assert _group_labels(page) == GROUPS[username]
    for path in ("/", "/inventory/"):
        page.goto(f"{live_server.url}{path}")
        assert _horizontal_overflow(page) == 0, path
    # The bar's own right edge is inside the window: nothing is clipped.
    bar_right = page.evaluate(
        "Math.max(...[...document.querySelectorAll('nav.navbar .nav-link')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert bar_right <= 1280
    assert page.get_by_test_id("whoami").is_visible()
    assert page.get_by_test_id("whoami").inner_text().strip() == str(role_users[username])
    button = sign_out_button(page)
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1280
    button.click()
    page.wait_for_url("**/accounts/login/**")


def test_each_group_offers_only_what_the_role_may_open(page, live_server, login, role_users):
    page.set_viewport_size({"width": 1280, "height": 800})
    login(page, "owner")
    nav = page.get_by_test_id("main-nav")
    for label in ("Audit log", "Evidence", "Policy", "Decisions"):
        assert nav.get_by_role("link", name=label, exact=True, include_hidden=True).count() == 0, label
    page.get_by_role("button", name="Work").click()
    work = page.locator("[data-nav-group=work] .dropdown-menu")
    assert work.is_visible()
    assert [t.strip() for t in work.get_by_role("link").all_inner_texts()] == [
        "Approvals",
        "Reviews",
        "Findings",
        "Exceptions",
    ]
    page.get_by_role("button", name="Estate").click()
    estate = page.locator("[data-nav-group=estate] .dropdown-menu")
    assert [t.strip() for t in estate.get_by_role("link").all_inner_texts()] == ["Inventory", "Credentials"]
    login(page, "iam")  # IAM reads the connectors and the trusted issuers too
    page.get_by_role("button", name="Estate").click()
    estate = page.locator("[data-nav-group=estate] .dropdown-menu")
    assert [t.strip() for t in estate.get_by_role("link").all_inner_texts()] == [
        "Inventory",
        "Credentials",
        "Connectors",
        "Workload identity",
    ]
    login(page, "auditor")
    assert (
        page.get_by_test_id("main-nav").get_by_role("link", name="Approvals", include_hidden=True).count()
        == 0
    )
    assert (
        page.get_by_test_id("main-nav").get_by_role("link", name="New request", include_hidden=True).count()
        == 0
    )
    click_nav(page, "Audit log")
    page.wait_for_url("**/audit/")
    # The open page's group is marked, and the link inside says it is the current page.
    assert "active" in page.locator("#nav-group-assurance").get_attribute("class")
    assert nav_link(page, "Audit log").get_attribute("aria-current") == "page"


def test_the_groups_open_and_move_with_the_keyboard(page, live_server, login, role_users):
    page.set_viewport_size({"width": 1280, "height": 800})
    login(page, "iam")
    toggle = page.locator("#nav-group-estate")
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Inventory"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Credentials"
    page.keyboard.press("Enter")
    page.wait_for_url("**/credentials/")
    page.locator("#nav-group-work").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    assert page.locator("#nav-group-work").get_attribute("aria-expanded") == "false"


@pytest.mark.parametrize("username", ["owner", "security"])
def test_on_a_phone_the_menu_collapses_and_still_reaches_every_page(
    page, live_server, login, role_users, username
):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, username)
    assert _horizontal_overflow(page) == 0
    assert page.locator(".navbar-toggler").is_visible()
    assert not page.get_by_test_id("main-nav").is_visible()
    click_nav(page, "Findings")
    page.wait_for_url("**/findings/")
    assert _horizontal_overflow(page) == 0
    button = sign_out_button(page)
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    button.click()
    page.wait_for_url("**/accounts/login/**")
