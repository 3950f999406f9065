"""Every edit's audit event carries the real before and after of each changed field (issue 18, item 11)."""

import pytest

from governance.models import AuditEvent
from inventory import snapshots
from tests.factories import IdentityFactory


def last_update(identity) -> AuditEvent:
    return AuditEvent.objects.filter(verb="identity.updated", subject_id=str(identity.pk)).latest("seq")


@pytest.mark.django_db
def test_owner_patch_of_purpose_records_before_and_after(api_as, owner):
    identity = IdentityFactory(owner=owner, purpose="Pair programming")
    response = api_as(owner).patch(
        f"/api/v1/identities/{identity.pk}/", {"purpose": "Reviews pull requests"}, format="json"
    )
    assert response.status_code == 200, response.json()
    event = last_update(identity)
    assert event.before == {"purpose": "Pair programming"}
    assert event.after == {"purpose": "Reviews pull requests"}


@pytest.mark.django_db
def test_iam_patch_of_source_and_external_id_records_before_and_after(api_as, iam, owner):
    identity = IdentityFactory(owner=owner, source="okta", external_id="0oa1")
    response = api_as(iam).patch(
        f"/api/v1/identities/{identity.pk}/",
        {"source": "entra", "external_id": "app-7"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    event = last_update(identity)
    assert event.before == {"source": "okta", "external_id": "0oa1"}
    assert event.after == {"source": "entra", "external_id": "app-7"}


@pytest.mark.django_db
def test_every_editable_field_is_in_the_audit_snapshot(owner):
    # A field missing from the snapshot is edited with an empty diff: keep the two lists together.
    identity = IdentityFactory(owner=owner)
    assert set(snapshots.IDENTITY_FIELDS) <= set(snapshots.snapshot(identity))
