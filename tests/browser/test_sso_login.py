"""Journey: a person signs in through the organisation's identity provider (a real OpenID Connect
server on loopback) and lands in Steward with the role their IdP group maps to."""

import pytest

from governance.people.models import Role, User
from tests.factories import UserFactory
from tests.oidc_provider import running_provider


@pytest.fixture(scope="module")
def oidc_provider():
    with running_provider() as provider:
        yield provider


@pytest.fixture
def sso(settings, oidc_provider):
    for name, value in oidc_provider.settings().items():
        setattr(settings, name, value)
    settings.STEWARD_LOCAL_LOGIN = False
    return oidc_provider


def sign_in_with_sso(page, live_server, sub):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.get_by_placeholder("sub").fill(sub)  # the provider's own sign-in page
    page.get_by_role("button", name="Authorize").click()


@pytest.mark.django_db(transaction=True)
def test_sso_login_lands_in_steward_with_the_mapped_role(page, live_server, sso):
    sso.set_user(
        "u-1001",
        preferred_username="priya",
        email="priya@example.com",
        name="Priya Raman",
        groups=["steward-iam", "engineering"],
    )
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_label("Password").count() == 0  # local passwords are switched off
    sign_in_with_sso(page, live_server, "u-1001")
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("whoami").inner_text().strip() == "Priya Raman"
    badges = page.locator("nav .badge").all_inner_texts()
    assert "IAM approver" in badges and "Tool owner" in badges
    assert page.get_by_test_id("main-nav").get_by_role("link", name="Audit log").is_visible()
    assert User.objects.get(username="priya").roles == {Role.IAM, Role.OWNER}


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_user_is_turned_away_after_the_provider_says_yes(page, live_server, sso):
    UserFactory(username="leaver", roles=[Role.SECURITY], is_active=False)
    sso.set_user(
        "u-2002", preferred_username="leaver", email="leaver@example.com", groups=["steward-security"]
    )
    sign_in_with_sso(page, live_server, "u-2002")
    page.wait_for_url("**/accounts/login/?sso=failed")
    assert page.get_by_test_id("sso-failed").is_visible()
    assert page.get_by_test_id("whoami").count() == 0
