from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from governance.actors import system
from governance.models import ApiToken, AuditEvent
from governance.people.tokens import hash_token
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.conftest import bearer


@pytest.mark.django_db
def test_issue_api_token_prints_once_and_stores_only_the_hash(iam, capsys):
    call_command("issue_api_token", "iam", "--scope", "write", "--days", "30")
    value = capsys.readouterr().out.strip()
    assert value.startswith("stw_") and len(value) > 40
    token = ApiToken.objects.get()
    assert token.token_hash == hash_token(value)
    for field in ApiToken._meta.concrete_fields:
        assert getattr(token, field.attname) != value
    assert token.scope == "write"
    assert abs((token.expires_at - timezone.now()) - timedelta(days=30)) < timedelta(minutes=1)
    # The token is itself a governed identity, owned by its user.
    identity = token.identity
    assert identity.kind == Identity.Kind.API_KEY and identity.owner == iam and identity.status == "active"
    assert AuditEvent.objects.filter(verb="api_token.issued").exists()


@pytest.mark.django_db
def test_valid_token_authenticates_and_wrong_or_expired_gets_401(iam):
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    assert bearer(value).get("/api/v1/audit-events/").status_code == 200
    assert bearer(value + "x").get("/api/v1/audit-events/").status_code == 401
    assert bearer("stw_nonsense").get("/api/v1/audit-events/").status_code == 401
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        response = bearer(value).get("/api/v1/audit-events/")
        assert response.status_code == 401
        assert "expired" in response.json()["detail"].lower()


@pytest.mark.django_db
def test_no_credentials_gets_401(api):
    assert api.get("/api/v1/audit-events/").status_code == 401


@pytest.mark.django_db
def test_read_scope_cannot_write(security):
    # Security may register identities; only the token's scope stands in the way.
    _, read_value = issue_token(system("test"), security, scope="read", days=1)
    _, write_value = issue_token(system("test"), security, scope="write", days=1)
    body = {"name": "scoped-bot", "kind": "bot"}
    before = Identity.objects.count()
    refused = bearer(read_value).post("/api/v1/identities/", body, format="json")
    assert refused.status_code == 403 and "read scope" in refused.json()["detail"]
    assert Identity.objects.count() == before
    assert bearer(write_value).post("/api/v1/identities/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_token_of_deactivated_user_is_refused(iam):
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    iam.is_active = False
    iam.save()
    assert bearer(value).get("/api/v1/audit-events/").status_code == 401


@pytest.mark.django_db
def test_token_use_is_recorded_as_last_use(iam):
    token, value = issue_token(system("test"), iam, scope="read", days=1)
    bearer(value).get("/api/v1/audit-events/")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert Identity.objects.get(pk=token.identity_id).last_used_at is not None


def test_unknown_user_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("issue_api_token", "nobody")


def test_issuing_a_token_registers_its_identity_like_any_other(iam):
    """The token's identity comes from inventory.tokens: identity.created and api_token.issued, both
    in the issuing transaction, and the identity's snapshot names no secret."""
    token, value = issue_token(system("test"), iam, scope="write")
    created = AuditEvent.objects.get(verb="identity.created", subject_id=str(token.identity_id))
    issued = AuditEvent.objects.get(verb="api_token.issued", subject_id=str(token.pk))
    assert created.seq < issued.seq and created.actor == "system:test"
    assert created.after["kind"] == "api_key" and created.after["owner"] == "iam"
    assert value not in str(created.after) and token.key_prefix in str(created.after)
