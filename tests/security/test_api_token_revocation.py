"""Every API token is an identity in the inventory; revoking one decommissions that identity."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.actors import system
from governance.errors import IllegalTransition, NotAllowed
from governance.models import ApiToken, AuditEvent
from inventory import services as inventory
from inventory.models import Identity
from inventory.tokens import issue_token, revoke_token
from tests.conftest import bearer


@pytest.fixture
def owned_token(owner):
    return issue_token(system("test"), owner, scope="write", days=30, name="CI pipeline")


@pytest.mark.django_db
def test_each_token_is_listed_as_an_identity_with_owner_scope_expiry_and_last_use(owned_token, owner):
    token, value = owned_token
    identity = Identity.objects.get(pk=token.identity_id)
    assert (identity.kind, identity.owner, identity.status) == ("api_key", owner, "active")
    assert identity.external_id == token.key_prefix and identity.source == "steward"
    assert "write scope" in identity.purpose
    credential = identity.credentials.get()
    assert credential.label == token.key_prefix and credential.expires_at == token.expires_at
    assert value not in str(vars(identity)) + str(vars(credential))


@pytest.mark.django_db
def test_the_owner_revokes_their_token_and_its_identity_is_decommissioned(owned_token, owner):
    token, value = owned_token
    revoke_token(owner, token, "Pipeline retired")
    token.refresh_from_db()
    identity = Identity.objects.get(pk=token.identity_id)
    credential = identity.credentials.get()
    assert token.revoked_at is not None
    assert identity.status == "decommissioned"
    assert credential.revoked_at is not None and credential.revocation_confirmed_at is not None
    assert credential.revocation_confirmed_by == "owner"
    verbs = list(AuditEvent.objects.order_by("seq").values_list("verb", "actor"))
    assert verbs[-4:] == [
        ("api_token.revoked", "owner"),
        ("identity.decommissioned", "owner"),
        ("identity.access_removed", "owner"),
        ("credential.revocation_confirmed", "owner"),
    ]
    assert AuditEvent.objects.get(verb="api_token.revoked").reason == "Pipeline retired"
    assert bearer(value).get("/api/v1/audit-events/").status_code == 401


@pytest.mark.django_db
def test_security_may_revoke_anyones_token(owned_token, security):
    token, _ = owned_token
    revoke_token(security, token, "Leaked in a public gist")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["owner2", "iam", "auditor", "outsider"])
def test_others_may_not_revoke_a_token_and_nothing_changes(owned_token, role_users, who):
    token, value = owned_token
    with pytest.raises(NotAllowed):
        revoke_token(role_users[who], token, "not mine")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert Identity.objects.get(pk=token.identity_id).status == "active"
    assert not AuditEvent.objects.filter(verb="api_token.revoked").exists()


@pytest.mark.django_db
def test_revoking_twice_is_refused_as_a_conflict(owned_token, owner):
    token, _ = owned_token
    revoke_token(owner, token, "done")
    with pytest.raises(IllegalTransition):
        revoke_token(owner, token, "again")


@pytest.mark.django_db
def test_a_reason_is_required(owned_token, owner):
    token, _ = owned_token
    with pytest.raises(ValidationError):
        revoke_token(owner, token, "  ")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


@pytest.mark.django_db
def test_a_token_whose_identity_was_already_decommissioned_can_still_be_revoked(owned_token, iam):
    token, _ = owned_token
    inventory.decommission(iam, token.identity, "retired from the inventory page")
    revoke_token(iam.__class__.objects.get(username="owner"), token, "tidy up")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert Identity.objects.get(pk=token.identity_id).credentials.get().revocation_confirmed_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["suspend", "decommission"])
def test_suspending_or_decommissioning_the_tokens_identity_stops_the_token(owned_token, iam, action):
    token, value = owned_token
    assert bearer(value).get("/api/v1/audit-events/").status_code != 401  # works until then
    getattr(inventory, action)(iam, token.identity, "suspicious use")
    response = bearer(value).get("/api/v1/audit-events/")
    assert response.status_code == 401
    assert "inventory" in response.json()["detail"]


@pytest.mark.django_db
def test_revoke_api_token_command_revokes_by_prefix(owned_token, capsys):
    token, value = owned_token
    call_command("revoke_api_token", f"{token.key_prefix}…", "--reason", "Rotated after incident 42")
    out = capsys.readouterr().out
    assert f"Revoked token {token.key_prefix}" in out
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Identity.objects.get(pk=token.identity_id).status == "decommissioned"
    event = AuditEvent.objects.get(verb="api_token.revoked")
    assert (event.actor, event.reason) == ("system:revoke_api_token", "Rotated after incident 42")
    assert bearer(value).get("/api/v1/audit-events/").status_code == 401


@pytest.mark.django_db
def test_revoke_api_token_command_explains_unknown_and_repeated_prefixes(owned_token):
    token, _ = owned_token
    with pytest.raises(CommandError, match="No API token with prefix"):
        call_command("revoke_api_token", "stw_nothere")
    call_command("revoke_api_token", token.key_prefix)
    with pytest.raises(CommandError, match="already revoked"):
        call_command("revoke_api_token", token.key_prefix)
