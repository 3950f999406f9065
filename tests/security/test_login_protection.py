"""Failed-login throttling (django-axes) and the switch that keeps passwords for break-glass only."""

import pytest
from axes.models import AccessAttempt

from governance.people.models import Role
from tests.factories import UserFactory

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    return settings


def attempt(client, username, password, ip="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_five_failures_lock_the_account_from_that_address_with_a_clear_message(client, throttled, owner):
    for _ in range(4):
        response = attempt(client, "owner", "wrong")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    locked = attempt(client, "owner", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert b"locked for 15 minutes" in locked.content
    # Even the right password is refused while locked out.
    again = attempt(client, "owner", PASSWORD)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_lockout_is_per_username_and_address(client, throttled, owner, iam):
    for _ in range(5):
        attempt(client, "owner", "wrong")
    assert attempt(client, "owner", PASSWORD, ip="10.0.0.2").status_code == 302  # another address
    client.logout()
    assert attempt(client, "iam", PASSWORD).status_code == 302  # another user, same address


@pytest.mark.django_db
def test_the_lockout_ends_after_the_cool_off(client, throttled, owner, time_machine):
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    for _ in range(5):
        attempt(client, "owner", "wrong")
    assert attempt(client, "owner", PASSWORD).status_code == 429
    time_machine.move_to("2026-03-02 09:31:00+00:00", tick=False)
    assert attempt(client, "owner", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(client, throttled, owner):
    for _ in range(4):
        attempt(client, "owner", "wrong")
    assert attempt(client, "owner", PASSWORD).status_code == 302
    client.logout()
    assert not AccessAttempt.objects.filter(username="owner").exists()
    for _ in range(4):
        assert attempt(client, "owner", "wrong").status_code == 200


@pytest.mark.django_db
def test_the_limit_is_configurable(client, throttled, owner):
    throttled.AXES_FAILURE_LIMIT = 2
    attempt(client, "owner", "wrong")
    assert attempt(client, "owner", "wrong").status_code == 429


@pytest.mark.django_db
def test_the_client_address_behind_a_trusted_proxy_is_the_forwarded_one(client, throttled, owner):
    throttled.STEWARD_TRUSTED_PROXY_COUNT = 1
    for i in range(5):
        client.post(
            "/accounts/login/",
            {"username": "owner", "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"spoofed-{i}, 198.51.100.7",
        )
    assert AccessAttempt.objects.get(username="owner").ip_address == "198.51.100.7"


# ------------------------------------------------------------ one address, many usernames


@pytest.mark.django_db
def test_one_password_sprayed_across_many_users_locks_the_address(client, throttled, owner):
    throttled.STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT = 20
    victims = [UserFactory(username=f"victim-{n}").username for n in range(12)]
    names = [*victims, *(f"nobody-{n}" for n in range(8))]  # unknown usernames count too
    answers = [attempt(client, name, "Winter2026!", ip="203.0.113.5").status_code for name in names]
    # One failure per username: never the per-user limit; the address's 20th failure locks it.
    assert answers == [200] * 19 + [429]
    locked = attempt(client, "owner", PASSWORD, ip="203.0.113.5")
    assert locked.status_code == 429 and b"Too many failed sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session
    # Another address is not affected.
    assert attempt(client, "owner", PASSWORD, ip="203.0.113.6").status_code == 302


@pytest.mark.django_db
def test_the_address_limit_is_configurable_and_ends_after_the_cool_off(
    client, throttled, owner, time_machine
):
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    throttled.STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT = 3
    assert [attempt(client, f"user-{n}", "guess").status_code for n in range(3)] == [200, 200, 429]
    assert attempt(client, "owner", PASSWORD).status_code == 429
    time_machine.move_to("2026-03-02 09:16:00+00:00", tick=False)
    assert attempt(client, "owner", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_address_limit_can_be_switched_off(client, throttled, owner):
    throttled.STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT = 0
    assert all(attempt(client, f"user-{n}", "guess").status_code == 200 for n in range(25))
    assert attempt(client, "owner", PASSWORD).status_code == 302


# ------------------------------------------------------------ local login switched off


@pytest.mark.django_db
def test_with_local_login_off_a_password_no_longer_signs_in_a_normal_user(client, settings, owner):
    settings.STEWARD_LOCAL_LOGIN = False
    response = attempt(client, "owner", PASSWORD)
    assert response.status_code == 200
    assert b"Password sign-in is switched off" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_with_local_login_off_the_break_glass_superuser_still_signs_in(client, settings):
    settings.STEWARD_LOCAL_LOGIN = False
    UserFactory(username="breakglass", is_superuser=True, is_staff=True, roles=[Role.SECURITY])
    assert attempt(client, "breakglass", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_login_page_hides_the_password_form_when_sso_is_on_and_local_login_off(client, settings):
    settings.STEWARD_LOCAL_LOGIN = False
    settings.OIDC_RP_CLIENT_ID = "steward"
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with SSO" in page
    assert 'name="password"' not in page
    break_glass = client.get("/accounts/login/?local=1").content.decode()
    assert 'name="password"' in break_glass and "Break-glass administrator sign-in" in break_glass


@pytest.mark.django_db
def test_local_login_off_without_sso_still_shows_the_form_for_the_administrator(client, settings):
    settings.STEWARD_LOCAL_LOGIN = False
    page = client.get("/accounts/login/").content.decode()
    assert 'name="password"' in page
