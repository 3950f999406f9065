"""Journeys through the organisation's identity provider: panva's `oidc-provider` (npm), a real OpenID
Connect server started on loopback by the test (tests/oidc/), driven by Chromium like a person would.

Sign in lands with the mapped role; an IdP account that shares a local account's name (the
superuser's included) never becomes it; a missing groups claim is refused with the reason; roles are
re-read at the re-check; sign-out reaches the provider's end_session_endpoint, and signing out at the
provider ends the Steward session (back-channel logout, the provider calling Steward itself)."""

import pytest

from governance.models import AuditEvent
from governance.people.models import Role, SignedInSession, User
from tests.browser.nav import sign_out_button
from tests.factories import UserFactory
from tests.oidc.panva import running_panva

SCOPES = "openid email profile groups offline_access"


@pytest.fixture(scope="module")
def panva(live_server):
    with running_panva(
        redirect_uris=[f"{live_server.url}/oidc/callback/"],
        post_logout_redirect_uris=[f"{live_server.url}/accounts/login/?signed_out=1"],
        backchannel_logout_uri=f"{live_server.url}/oidc/backchannel-logout/",
    ) as provider:
        yield provider


@pytest.fixture
def sso(settings, panva):
    for name, value in panva.settings(scopes=SCOPES).items():
        setattr(settings, name, value)
    settings.STEWARD_LOCAL_LOGIN = False
    return panva


def sign_in_with_sso(page, live_server, account):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.get_by_label("Account").fill(account)  # the provider's own sign-in page
    page.get_by_role("button", name="Sign-in").click()


@pytest.mark.django_db(transaction=True)
def test_sign_in_lands_with_the_mapped_role_and_sign_out_reaches_the_provider(page, live_server, sso):
    sso.set_account(
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
    priya = User.objects.get(username="priya")
    assert priya.roles == {Role.IAM, Role.OWNER}
    assert priya.sso_binding.subject == "u-1001" and priya.sso_binding.issuer == sso.url

    sso.clear_log()
    sign_out_button(page).click()
    page.wait_for_url("**/accounts/login/?signed_out=1*")
    assert page.get_by_test_id("signed-out").is_visible()
    ended = sso.requests_to("/session/end")
    assert ended and ended[0]["query"]["id_token_hint"]
    assert ended[0]["query"]["post_logout_redirect_uri"] == f"{live_server.url}/accounts/login/?signed_out=1"
    # The provider's session is over too: "Sign in with SSO" asks for the account again.
    page.get_by_role("link", name="Sign in with SSO").click()
    assert page.get_by_label("Account").is_visible()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("superuser", [True, False], ids=["superuser", "normal-user"])
def test_an_idp_account_sharing_a_local_name_is_refused(page, live_server, sso, superuser):
    if superuser:
        target = User.objects.create_superuser("admin", "admin@example.com", "a-strong-password-1")
    else:
        target = UserFactory(username="admin", email="admin@example.com", roles=[Role.IAM])
    sso.set_account(
        "attacker", preferred_username="admin", email="someone@example.com", groups=["steward-security"]
    )
    sign_in_with_sso(page, live_server, "attacker")
    refusal = page.get_by_test_id("sso-refusal")
    refusal.wait_for()
    assert "not linked to your single sign-on identity" in refusal.inner_text()
    assert "link_sso_account admin" in page.get_by_test_id("sso-remedy").inner_text()
    assert page.get_by_test_id("whoami").count() == 0
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
    target.refresh_from_db()
    assert target.email == "admin@example.com"
    assert AuditEvent.objects.filter(verb="user.sso_login_refused", subject_id=str(target.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_missing_groups_claim_is_refused_with_the_reason(page, live_server, sso):
    sso.set_account("u-3003", preferred_username="nogroups", email="ng@example.com")
    sign_in_with_sso(page, live_server, "u-3003")
    refusal = page.get_by_test_id("sso-refusal")
    refusal.wait_for()
    assert "sent no 'groups' claim" in refusal.inner_text()
    assert "OIDC_RP_SCOPES" in page.get_by_test_id("sso-remedy").inner_text()
    assert not User.objects.filter(username="nogroups").exists()


@pytest.mark.django_db(transaction=True)
def test_roles_are_re_read_at_the_re_check(page, live_server, sso, settings):
    sso.set_account("u-4004", preferred_username="ravi", email="ravi@example.com", groups=["engineering"])
    sign_in_with_sso(page, live_server, "u-4004")
    page.wait_for_url(f"{live_server.url}/")
    assert "Tool owner" in page.locator("nav .badge").all_inner_texts()

    sso.set_account(
        "u-4004", preferred_username="ravi", email="ravi@example.com", groups=["steward-auditors"]
    )
    settings.STEWARD_SSO_RECHECK_SECONDS = 0
    page.reload()
    badges = page.locator("nav .badge").all_inner_texts()
    assert badges == ["Auditor"]
    assert User.objects.get(username="ravi").roles == {Role.AUDITOR}

    sso.remove_account("u-4004")  # removed at the IdP: the refresh grant now fails
    page.reload()
    assert "/accounts/login/" in page.url
    assert page.get_by_test_id("whoami").count() == 0


@pytest.mark.django_db(transaction=True)
def test_signing_out_at_the_provider_ends_the_steward_session(page, live_server, sso):
    sso.set_account("u-5005", preferred_username="sena", email="sena@example.com", groups=["engineering"])
    sign_in_with_sso(page, live_server, "u-5005")
    page.wait_for_url(f"{live_server.url}/")
    assert SignedInSession.objects.filter(user__username="sena").exclude(sso_sid="").exists()

    page.goto(sso.discovery()["end_session_endpoint"])  # the person signs out at the IdP itself
    page.wait_for_url("**/session/end/success*")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    assert not SignedInSession.objects.filter(user__username="sena").exists()
    assert AuditEvent.objects.filter(verb="user.sso_logged_out").exists()
