import pytest

from tests.browser.nav import nav_link

EXPECTED_NAV = {
    "owner": {"present": ["Dashboard", "Inventory"], "absent": ["Audit log"]},
    "iam": {"present": ["Dashboard", "Inventory", "Audit log"], "absent": []},
    "security": {"present": ["Dashboard", "Inventory", "Audit log"], "absent": []},
    "auditor": {"present": ["Dashboard", "Inventory", "Audit log"], "absent": ["New request"]},
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", list(EXPECTED_NAV))
def test_each_role_logs_in_and_sees_its_navigation(page, live_server, login, role_users, username):
    login(page, username)
    nav = page.get_by_test_id("main-nav")
    for label in EXPECTED_NAV[username]["present"]:
        assert nav_link(page, label).is_visible(), label
    for label in EXPECTED_NAV[username]["absent"]:
        assert nav.get_by_role("link", name=label, exact=True, include_hidden=True).count() == 0, label
    assert page.get_by_test_id("whoami").inner_text().strip() == str(role_users[username])


@pytest.mark.django_db(transaction=True)
def test_wrong_password_shows_an_error_and_stays_on_login(page, live_server, owner):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").is_visible()


@pytest.mark.django_db(transaction=True)
def test_pages_need_a_login(page, live_server):
    page.goto(f"{live_server.url}/audit/")
    assert "/accounts/login/" in page.url
