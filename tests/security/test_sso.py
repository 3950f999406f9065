"""Single sign-on against a real OpenID Connect provider on loopback (no mock of the client library)."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.checks import Error

from governance.models import AuditEvent
from governance.people.checks import check_sso_settings
from governance.people.models import Role, SsoBinding
from tests.factories import UserFactory
from tests.oidc_provider import path_and_query


def sso_login(client, provider, sub, next_url=""):
    """Click "Sign in with SSO", sign in at the provider as `sub`, follow the redirect back."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    assert start["Location"].startswith(provider.url)
    callback = provider.approve(start["Location"], sub)
    assert callback.startswith("http://testserver/oidc/callback/")
    return client.get(path_and_query(callback))


def bind(user, provider, sub):
    return SsoBinding.objects.create(user=user, issuer=provider.url, subject=sub, bound_by="test")


def signed_in_username(client):
    from governance.people.models import User

    pk = client.session.get(SESSION_KEY)
    return User.objects.get(pk=pk).username if pk else None


@pytest.mark.django_db
def test_first_sso_login_creates_the_user_with_roles_from_the_group_claim(client, sso):
    sso.set_user(
        "alice-sub",
        preferred_username="alice",
        email="alice@example.com",
        name="Alice Example",
        groups=["steward-iam", "engineering", "some-unmapped-group"],
    )
    response = sso_login(client, sso, "alice-sub")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_username(client) == "alice"
    from governance.people.models import User

    alice = User.objects.get(username="alice")
    assert (alice.email, alice.display_name) == ("alice@example.com", "Alice Example")
    assert alice.roles == {Role.IAM, Role.OWNER}
    assert not alice.has_usable_password()
    events = list(AuditEvent.objects.filter(subject_id=str(alice.pk)).order_by("seq"))
    assert [(e.verb, e.actor) for e in events] == [
        ("user.created", "system:sso"),
        ("user.sso_bound", "system:sso"),
        ("user.roles_changed", "system:sso"),
    ]
    assert events[1].after == {"issuer": sso.url, "sub": "alice-sub"}
    assert events[2].after == {"roles": ["IAM approver", "Tool owner"]}
    binding = SsoBinding.objects.get(user=alice)
    assert (binding.issuer, binding.subject, binding.bound_by) == (sso.url, "alice-sub", "system:sso")
    home = client.get("/")
    assert home.status_code == 200 and b"IAM approver" in home.content


@pytest.mark.django_db
def test_sso_login_updates_a_bound_user_and_replaces_their_roles(client, sso):
    bob = UserFactory(username="bob", email="old@example.com", roles=[Role.IAM, Role.OWNER])
    bind(bob, sso, "bob-sub")
    sso.set_user("bob-sub", preferred_username="bob", email="bob@example.com", groups=["steward-auditors"])
    sso_login(client, sso, "bob-sub")
    bob.refresh_from_db()
    assert signed_in_username(client) == "bob"
    assert bob.email == "bob@example.com"
    assert set(bob.groups.values_list("name", flat=True)) == {Role.AUDITOR}
    change = AuditEvent.objects.get(verb="user.roles_changed", subject_id=str(bob.pk))
    assert change.actor == "system:sso"
    assert change.before == {"roles": ["IAM approver", "Tool owner"]}
    assert change.after == {"roles": ["Auditor"]}


@pytest.mark.django_db
def test_unchanged_claims_write_no_audit_event(client, sso):
    sso.set_user("carol-sub", preferred_username="carol", email="carol@example.com", groups=["engineering"])
    sso_login(client, sso, "carol-sub")
    count = AuditEvent.objects.count()
    client.logout()
    sso_login(client, sso, "carol-sub")
    assert signed_in_username(client) == "carol"
    assert AuditEvent.objects.count() == count


@pytest.mark.django_db
def test_a_user_deactivated_in_steward_is_refused_even_when_the_provider_says_yes(client, sso):
    mallory = UserFactory(username="mallory", roles=[Role.IAM], is_active=False)
    bind(mallory, sso, "mallory-sub")
    sso.set_user("mallory-sub", preferred_username="mallory", email="m@example.com", groups=["steward-iam"])
    response = sso_login(client, sso, "mallory-sub")
    assert response.status_code == 403
    assert b"Your Steward account is deactivated" in response.content
    assert signed_in_username(client) is None
    refused = AuditEvent.objects.get(verb="user.sso_login_refused")
    assert refused.actor == "system:sso" and refused.subject_id == str(mallory.pk)
    assert refused.after["refusal"] == "deactivated"


@pytest.mark.django_db
def test_deactivating_a_user_ends_their_sso_session(client, sso):
    sso.set_user("dave-sub", preferred_username="dave", email="dave@example.com", groups=["engineering"])
    sso_login(client, sso, "dave-sub")
    assert client.get("/").status_code == 200
    from governance.people.models import User

    User.objects.filter(username="dave").update(is_active=False)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_providers_tokens_stay_in_the_server_side_session_only(client, sso, caplog):
    sso.set_user("erin-sub", preferred_username="erin", email="erin@example.com", groups=[])
    sso_login(client, sso, "erin-sub")
    session = client.session
    assert signed_in_username(client) == "erin"
    assert "oidc_access_token" not in session and "oidc_id_token" not in session
    state = session["steward_sso"]
    # The ID token (the logout hint) and sid are kept server-side; no cookie carries them.
    assert state["id_token"].startswith("eyJ") and state["sub"] == "erin-sub"
    assert not any("eyJ" in cookie.value for cookie in client.cookies.values())
    ours = [record for record in caplog.records if record.name.startswith("governance")]
    assert not any("eyJ" in record.getMessage() for record in ours)


@pytest.mark.django_db
def test_a_user_without_a_mapped_group_gets_in_with_no_role(client, sso):
    sso.set_user("frank-sub", preferred_username="frank", email="frank@example.com", groups=["marketing"])
    sso_login(client, sso, "frank-sub")
    assert signed_in_username(client) == "frank"
    assert client.get("/audit/").status_code == 403
    assert b"no role" in client.get("/").content


@pytest.mark.django_db
def test_endpoints_are_discovered_when_only_the_discovery_url_is_set(client, settings, sso):
    for name in (
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
        "OIDC_OP_ISSUER",
    ):
        setattr(settings, name, "")
    settings.OIDC_OP_DISCOVERY_ENDPOINT = f"{sso.url}/.well-known/openid-configuration"
    sso.set_user("gina-sub", preferred_username="gina", email="gina@example.com", groups=["steward-security"])
    sso_login(client, sso, "gina-sub")
    assert signed_in_username(client) == "gina"
    assert check_sso_settings() == []


@pytest.mark.django_db
def test_an_id_token_from_an_unexpected_issuer_is_refused(client, settings, sso):
    settings.OIDC_OP_ISSUER = "https://idp.example.com"
    sso.set_user("hank-sub", preferred_username="hank", email="hank@example.com", groups=["steward-iam"])
    response = sso_login(client, sso, "hank-sub")
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert signed_in_username(client) is None


@pytest.mark.django_db
def test_a_forged_callback_is_a_failed_login_not_an_error(client, sso):
    client.get("/oidc/authenticate/")
    response = client.get("/oidc/callback/?code=forged&state=not-the-state")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?sso=failed"
    assert signed_in_username(client) is None


@pytest.mark.django_db
def test_next_url_is_kept_through_the_sso_round_trip(client, sso):
    sso.set_user("ivy-sub", preferred_username="ivy", email="ivy@example.com", groups=["steward-auditors"])
    response = sso_login(client, sso, "ivy-sub", next_url="/audit/")
    assert response["Location"] == "/audit/"


@pytest.mark.django_db
def test_sso_is_off_without_a_client_id(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=a&state=b").status_code == 404
    page = client.get("/accounts/login/")
    assert b"Sign in with SSO" not in page.content
    assert b'name="password"' in page.content


@pytest.mark.django_db
def test_login_page_offers_sso_when_configured(client, sso):
    page = client.get("/accounts/login/?next=/audit/")
    assert b"Sign in with SSO" in page.content
    assert b'href="/oidc/authenticate/?next=/audit/"' in page.content


def test_a_misspelt_role_in_the_mapping_is_reported_by_manage_check(settings):
    settings.STEWARD_OIDC_ROLE_MAP = "steward-iam=IAM Approvers"
    errors = check_sso_settings()
    assert [e.id for e in errors] == ["steward.E101"]
    assert isinstance(errors[0], Error) and "IAM Approvers" in errors[0].msg


def test_sso_without_endpoints_is_reported_by_manage_check(settings):
    settings.OIDC_RP_CLIENT_ID = "steward"
    settings.OIDC_RP_CLIENT_SECRET = "s"
    for name in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_DISCOVERY_ENDPOINT"):
        setattr(settings, name, "")
    errors = check_sso_settings()
    assert [e.id for e in errors] == ["steward.E103"]
    assert "OIDC_OP_TOKEN_ENDPOINT" in errors[0].msg


@pytest.mark.django_db
def test_with_user_creation_off_only_known_users_get_in(client, settings, sso):
    settings.OIDC_CREATE_USER = False
    sso.set_user("stranger-sub", preferred_username="stranger", email="s@example.com", groups=["steward-iam"])
    response = sso_login(client, sso, "stranger-sub")
    assert response.status_code == 403 and b"does not create accounts" in response.content
    from governance.people.models import User

    assert not User.objects.filter(username="stranger").exists()
    bind(UserFactory(username="known", roles=[]), sso, "known-sub")
    sso.set_user("known-sub", preferred_username="known", email="k@example.com", groups=["steward-iam"])
    sso_login(client, sso, "known-sub")
    assert signed_in_username(client) == "known"
