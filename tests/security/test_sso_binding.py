"""Issue 17: an SSO login is bound to the provider's (issuer, sub), never matched to an existing
account by username or e-mail. Against the loopback provider (tests/oidc_provider.py)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import AuditEvent
from governance.people.models import Role, SsoBinding, User
from tests.factories import UserFactory
from tests.security.test_sso import bind, signed_in_username, sso_login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "claims",
    [
        {"preferred_username": "admin", "email": "attacker@example.com"},
        {"preferred_username": "someone-else", "email": "ADMIN@example.com"},
        {"preferred_username": "ADMIN", "email": "attacker@example.com"},
    ],
    ids=["same-username", "same-email-other-case", "same-username-other-case"],
)
def test_an_idp_account_sharing_a_superusers_name_or_email_never_signs_in_as_it(client, sso, claims):
    admin = User.objects.create_superuser("admin", "admin@example.com", "a-strong-password-1")
    sso.set_user("attacker-sub", groups=["steward-security"], name="Attacker", **claims)

    response = sso_login(client, sso, "attacker-sub")

    assert response.status_code == 403
    assert b"not linked to your single sign-on identity" in response.content
    assert b"link_sso_account admin --issuer" in response.content
    assert signed_in_username(client) is None
    admin.refresh_from_db()
    assert (admin.email, admin.display_name) == ("admin@example.com", "")
    assert not SsoBinding.objects.exists()
    assert client.get("/admin/").status_code == 302
    refused = AuditEvent.objects.get(verb="user.sso_login_refused")
    assert refused.actor == "system:sso" and refused.subject_id == str(admin.pk)
    assert refused.after == {"issuer": sso.url, "sub": "attacker-sub", "refusal": "local_account_exists"}


def test_an_idp_account_sharing_a_normal_users_name_is_refused_and_changes_nothing(client, sso):
    iam = UserFactory(username="iam", email="iam@example.com", roles=[Role.IAM])
    sso.set_user("evil-sub", preferred_username="iam", email="evil@example.com", groups=["steward-security"])
    response = sso_login(client, sso, "evil-sub")
    assert response.status_code == 403 and signed_in_username(client) is None
    iam.refresh_from_db()
    assert iam.email == "iam@example.com" and iam.roles == {Role.IAM}
    assert not AuditEvent.objects.filter(verb__in=["user.updated", "user.roles_changed"]).exists()


def test_a_bound_superuser_is_still_refused(client, sso):
    admin = User.objects.create_superuser("root", "root@example.com", "a-strong-password-1")
    SsoBinding.objects.create(user=admin, issuer=sso.url, subject="root-sub", bound_by="test")
    sso.set_user("root-sub", preferred_username="root", email="root@example.com", groups=["steward-iam"])
    response = sso_login(client, sso, "root-sub")
    assert response.status_code == 403 and b"never sign in through single sign-on" in response.content
    assert signed_in_username(client) is None


def test_an_administrator_links_an_existing_account_then_sso_signs_in_as_it(client, sso):
    carol = UserFactory(username="carol", email="carol@example.com", roles=[Role.OWNER])
    sso.set_user("carol-sub", preferred_username="carol", email="carol@example.com", groups=["steward-iam"])
    assert sso_login(client, sso, "carol-sub").status_code == 403

    call_command(
        "link_sso_account", "carol", "--issuer", sso.url, "--sub", "carol-sub", "--reason", "ticket 42"
    )

    linked = AuditEvent.objects.get(verb="user.sso_linked")
    assert linked.actor == "system:link_sso_account" and linked.reason == "ticket 42"
    assert linked.after == {"issuer": sso.url, "sub": "carol-sub"}
    sso_login(client, sso, "carol-sub")
    assert signed_in_username(client) == "carol"
    carol.refresh_from_db()
    assert carol.roles == {Role.IAM}


def test_the_link_command_refuses_superusers_and_double_bindings(sso):
    User.objects.create_superuser("root", "root@example.com", "a-strong-password-1")
    with pytest.raises(CommandError, match="Superusers never sign in"):
        call_command("link_sso_account", "root", "--issuer", sso.url, "--sub", "x")
    bind(UserFactory(username="dora"), sso, "dora-sub")
    UserFactory(username="eve")
    with pytest.raises(CommandError, match="already bound to dora"):
        call_command("link_sso_account", "eve", "--issuer", sso.url, "--sub", "dora-sub")
    with pytest.raises(CommandError, match="No user named"):
        call_command("link_sso_account", "nobody", "--issuer", sso.url, "--sub", "y")
    assert not AuditEvent.objects.filter(verb="user.sso_linked").exists()


def test_a_renamed_idp_account_stays_the_same_steward_user(client, sso):
    sso.set_user("fay-sub", preferred_username="fay", email="fay@example.com", groups=["engineering"])
    sso_login(client, sso, "fay-sub")
    client.logout()
    sso.set_user("fay-sub", preferred_username="fay.new", email="fay.new@example.com", groups=["engineering"])
    sso_login(client, sso, "fay-sub")
    assert signed_in_username(client) == "fay"
    assert User.objects.get(username="fay").email == "fay.new@example.com"
    assert not User.objects.filter(username="fay.new").exists()


def test_a_scim_provisioned_person_is_bound_at_first_login_by_the_match_claim(client, sso, settings):
    settings.STEWARD_OIDC_SCIM_MATCH_CLAIM = "oid"
    gus = UserFactory(username="gus@example.com", email="gus@example.com", roles=[Role.AUDITOR])
    User.objects.filter(pk=gus.pk).update(scim_managed=True, scim_external_id="00000000-aaaa-gus")
    sso.set_user(
        "gus-pairwise-sub",
        preferred_username="gus@example.com",
        email="gus@example.com",
        oid="00000000-aaaa-gus",
        groups=["steward-security"],
    )
    sso_login(client, sso, "gus-pairwise-sub")
    assert signed_in_username(client) == "gus@example.com"
    binding = SsoBinding.objects.get(user=gus)
    assert binding.subject == "gus-pairwise-sub"
    bound = AuditEvent.objects.get(verb="user.sso_bound")
    assert "SCIM" in bound.reason
    # With SCIM, SCIM Groups alone set the roles: the groups claim changes nothing.
    assert User.objects.get(pk=gus.pk).roles == {Role.AUDITOR}


def test_a_scim_person_whose_match_claim_differs_is_refused(client, sso):
    hal = UserFactory(username="hal", email="hal@example.com")
    User.objects.filter(pk=hal.pk).update(scim_managed=True, scim_external_id="ext-hal")
    sso.set_user("other-sub", preferred_username="hal", email="hal@example.com", groups=["engineering"])
    assert sso_login(client, sso, "other-sub").status_code == 403
    assert not SsoBinding.objects.exists()


def test_a_missing_groups_claim_is_refused_with_the_claim_and_scope_named(client, sso, caplog):
    ivan = UserFactory(username="ivan", roles=[Role.IAM, Role.OWNER])
    bind(ivan, sso, "ivan-sub")
    sso.set_user("ivan-sub", preferred_username="ivan", email="ivan@example.com")

    response = sso_login(client, sso, "ivan-sub")

    assert response.status_code == 403
    assert b"sent no &#x27;groups&#x27; claim" in response.content
    assert b"OIDC_RP_SCOPES" in response.content and b"openid email profile" in response.content
    assert signed_in_username(client) is None
    assert User.objects.get(pk=ivan.pk).roles == {Role.IAM, Role.OWNER}
    assert any("no 'groups' claim" in r.getMessage() for r in caplog.records)
    refused = AuditEvent.objects.get(verb="user.sso_login_refused")
    assert refused.after["refusal"] == "groups_claim_missing"


def test_a_first_login_without_the_groups_claim_creates_nobody(client, sso):
    sso.set_user("jo-sub", preferred_username="jo", email="jo@example.com")
    assert sso_login(client, sso, "jo-sub").status_code == 403
    assert not User.objects.filter(username="jo").exists()


def test_entra_app_roles_and_object_ids_map_to_roles(client, sso, settings):
    settings.STEWARD_OIDC_GROUPS_CLAIM = "roles"
    settings.STEWARD_OIDC_ROLE_MAP = "Steward.Security=Security admin,5f1c-8a2e-0b9d=Auditor"
    roles = ["Steward.Security", "5f1c-8a2e-0b9d"]
    sso.set_user("kim-sub", preferred_username="kim", email="kim@example.com", roles=roles)
    sso_login(client, sso, "kim-sub")
    assert User.objects.get(username="kim").roles == {Role.SECURITY, Role.AUDITOR}


def test_without_a_role_map_roles_are_kept_in_steward(client, sso, settings):
    settings.STEWARD_OIDC_ROLE_MAP = ""
    lou = UserFactory(username="lou", roles=[Role.IAM])
    bind(lou, sso, "lou-sub")
    sso.set_user("lou-sub", preferred_username="lou", email="lou@example.com")
    sso_login(client, sso, "lou-sub")
    assert signed_in_username(client) == "lou"
    assert User.objects.get(pk=lou.pk).roles == {Role.IAM}


def test_the_admin_links_through_the_audited_service(admin_client, sso):
    mo = UserFactory(username="mo")
    response = admin_client.post(
        "/admin/governance/ssobinding/add/", {"user": mo.pk, "issuer": sso.url, "subject": "mo-sub"}
    )
    assert response.status_code == 302
    assert SsoBinding.objects.get(user=mo).subject == "mo-sub"
    assert AuditEvent.objects.get(verb="user.sso_linked").subject_id == str(mo.pk)
    root = User.objects.get(is_superuser=True)
    refused = admin_client.post(
        "/admin/governance/ssobinding/add/", {"user": root.pk, "issuer": sso.url, "subject": "root-sub"}
    )
    assert refused.status_code == 200 and b"Superusers never sign in" in refused.content
    binding = SsoBinding.objects.get(user=mo)
    admin_client.post(f"/admin/governance/ssobinding/{binding.pk}/delete/", {"post": "yes"})
    assert not SsoBinding.objects.exists()
    assert AuditEvent.objects.filter(verb="user.sso_unlinked", subject_id=str(mo.pk)).exists()
