"""Demo estate and the service-layer rules the rest of Steward relies on."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from governance.demo import seed_people
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from inventory import services
from inventory.demo_large import build_large
from inventory.models import Credential, Grant, Identity, UsageEvent
from tests.factories import CredentialFactory, IdentityFactory


@pytest.mark.django_db
def test_small_demo_estate_is_believable_and_idempotent():
    call_command("seed_demo", password="pw-for-tests-1", stdout=io.StringIO())
    count = Identity.objects.count()
    assert count >= 30
    assert set(Identity.objects.values_list("kind", flat=True)) == set(Identity.Kind.values)
    assert set(Identity.objects.values_list("risk_tier", flat=True)) == {"low", "medium", "high", "critical"}
    assert Identity.objects.filter(owner__isnull=True).exists()  # orphans
    assert (
        Identity.objects.filter(status="discovered").exists()
        and Identity.objects.filter(status="suspended").exists()
    )
    assert Identity.objects.filter(environments__has_item="prod", last_used_at__isnull=False).count() > 5
    assert Credential.objects.filter(kind="static_key", revoked_at__isnull=True).count() >= 3
    assert Credential.objects.filter(revoked_at__isnull=False, revocation_confirmed_at__isnull=True).exists()
    assert UsageEvent.objects.filter(after_revocation=True).exists()
    assert Identity.objects.filter(next_review_due__isnull=False).exists()
    # Active identities always have an owner; backups differ from owners.
    assert not Identity.objects.filter(status="active", owner__isnull=True).exists()
    call_command("seed_demo", password="pw-for-tests-1", stdout=io.StringIO())
    assert Identity.objects.count() == count


@pytest.mark.django_db
def test_large_builder_bulk_inserts_and_continues_where_it_stopped(django_assert_max_num_queries):
    users = seed_people("pw-for-tests-1")
    with django_assert_max_num_queries(40):
        assert build_large(users, count=1200, batch=600) == 1200
    assert Identity.objects.filter(source="demo-large").count() == 1200
    assert Grant.objects.count() == 3600 and Credential.objects.count() == 1200
    sample = Identity.objects.filter(source="demo-large").first()
    assert isinstance(sample.environments, list) and sample.risk_reasons
    assert build_large(users, count=1500, batch=600) == 300
    assert Identity.objects.filter(source="demo-large").count() == 1500


@pytest.mark.django_db
def test_create_requires_name_and_kind(iam):
    with pytest.raises(ValidationError) as err:
        services.create_identity(iam, data={"vendor": "x"})
    assert set(err.value.message_dict) == {"name", "kind"}
    assert Identity.objects.count() == 0


@pytest.mark.django_db
def test_reactivate_is_only_for_suspended_identities(iam):
    discovered = IdentityFactory(status="discovered")
    with pytest.raises(IllegalTransition):
        services.reactivate(iam, discovered, "not how adoption works")


@pytest.mark.django_db
def test_activate_adopts_a_discovered_identity_and_needs_an_owner(iam, owner):
    found = IdentityFactory(status="discovered", owner=None)
    with pytest.raises(ValidationError):
        services.activate(iam, found, "no owner given")
    found.refresh_from_db()
    assert found.status == "discovered"
    services.activate(iam, found, "platform owns it", owner=owner)
    found.refresh_from_db()
    assert found.status == "active" and found.owner == owner
    verbs = list(
        AuditEvent.objects.filter(subject_id=str(found.pk)).order_by("seq").values_list("verb", flat=True)
    )
    assert verbs == ["identity.updated", "identity.activated"]


@pytest.mark.django_db
def test_revoking_credentials_needs_an_editor(owner2, identity):
    CredentialFactory(identity=identity)
    with pytest.raises(NotAllowed):
        services.revoke_credentials(owner2, identity, "not mine")
    assert identity.credentials.filter(revoked_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_external_id_clash_on_edit_is_a_field_error(iam, owner):
    IdentityFactory(owner=owner, source="aws", external_id="role/a")
    other = IdentityFactory(owner=owner)
    with pytest.raises(ValidationError) as err:
        services.update_identity(iam, other, {"source": "aws", "external_id": "role/a"})
    assert "external_id" in err.value.message_dict


@pytest.mark.django_db
def test_owner_change_checks_the_current_row_not_a_stale_copy(owner, owner2, identity):
    stale = Identity.objects.get(pk=identity.pk)
    Identity.objects.filter(pk=identity.pk).update(owner=owner2)
    with pytest.raises(NotAllowed):
        services.suspend(owner, stale, "I used to own it")
