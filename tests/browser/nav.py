"""Reach a page through the grouped navigation as a person does: open its group, then click the link."""


def nav_link(page, label: str):
    """The main-navigation link named `label`, made visible (its group opened, the menu expanded)."""
    link = page.get_by_test_id("main-nav").get_by_role("link", name=label, exact=True)
    if link.is_visible():
        return link
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        page.locator("#mainNav.show").wait_for()
    if not link.is_visible():
        group = page.get_by_test_id("main-nav").locator(
            "li.dropdown", has=page.get_by_role("link", name=label, exact=True, include_hidden=True)
        )
        group.locator("[data-bs-toggle=dropdown]").click()
    link.wait_for(state="visible")
    return link


def click_nav(page, label: str) -> None:
    nav_link(page, label).click()


def sign_out_button(page):
    """Open the user menu (expanding the collapsed bar first on a phone) and return its Sign out button."""
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        page.locator("#mainNav.show").wait_for()
    button = page.get_by_test_id("user-menu").get_by_role("button", name="Sign out")
    if not button.is_visible():
        page.locator("#user-menu-toggle").click()
    button.wait_for(state="visible")
    return button
