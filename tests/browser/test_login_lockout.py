"""Journey: someone guesses a password; after five failures the login page says the account is
locked for a while, and even the right password waits until the lock ends."""

import pytest


@pytest.mark.django_db(transaction=True)
def test_five_wrong_passwords_show_a_clear_lockout_message(page, live_server, settings, owner):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    page.goto(f"{live_server.url}/accounts/login/")
    for attempt in range(5):
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password").fill(f"guess-{attempt}")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    lockout = page.get_by_test_id("lockout")
    assert lockout.is_visible()
    assert "locked for 15 minutes" in lockout.inner_text()
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url and page.get_by_test_id("lockout").is_visible()
