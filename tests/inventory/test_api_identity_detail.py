"""identities/{id}/ (issue 23): written by hand, it says exactly what DRF's generic fields say, and
reads a fixed number of queries however many grants and credentials the identity holds."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.api import _with_details
from inventory.filters import base_queryset
from inventory.models import Identity
from inventory.serializers import IdentityDetailSerializer, IdentitySerializer, pending_changes
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


@pytest.fixture
def rich(db, owner, owner2):
    now = timezone.now()
    identity = IdentityFactory(
        owner=owner,
        backup_owner=owner2,
        kind=Identity.Kind.AI_AGENT,
        purpose="Triage — ünïcode",
        last_used_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        next_review_due=now.date() + timedelta(days=30),
        source="github",
        external_id="app-42",
    )
    GrantFactory(identity=identity, expires_at=now + timedelta(days=3), actions=["read_code", "open_pr"])
    GrantFactory(identity=identity, ended_at=now - timedelta(days=1), end_reason="review revoked")
    GrantFactory(identity=identity, expires_at=now - timedelta(hours=1), last_used_at=now)
    CredentialFactory(identity=identity, label="SHA256:abc", storage="vault", issued_at=now)
    CredentialFactory(identity=identity, revoked_at=now - timedelta(days=2))
    CredentialFactory(
        identity=identity,
        revoked_at=now - timedelta(days=3),
        revocation_confirmed_at=now - timedelta(days=1),
        revocation_confirmed_by="iam",
    )
    return identity


def generic(identity) -> dict:
    """What DRF's ModelSerializer fields write for the detail (the hand-written method bypassed)."""
    serializer = IdentityDetailSerializer(identity)
    return super(IdentitySerializer, serializer).to_representation(identity)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_the_hand_written_detail_equals_the_generic_serializer(settings, rich, zone):
    settings.TIME_ZONE = zone
    for identity in (
        _with_details(base_queryset()).get(pk=rich.pk),
        IdentityFactory(owner=None, team=None, vendor="", environments=[]),
    ):
        assert IdentityDetailSerializer(identity).data == generic(identity)


@pytest.mark.django_db
def test_pending_flags_read_with_the_identity_give_the_same_pending_changes(rich):
    flagged = _with_details(base_queryset()).get(pk=rich.pk)
    assert (flagged._pending_scope_changes, flagged._pending_transfers, flagged._pending_activation) == (
        False,
        False,
        False,
    )
    with CaptureQueriesContext(connection) as captured:
        assert pending_changes(flagged) == pending_changes(rich)
    assert len(captured) == 3  # all three for the plain identity, none for the flagged one


def _detail_queries(client, identity) -> int:
    client.get(f"/api/v1/identities/{identity.pk}/")  # the user's roles are read once
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/api/v1/identities/{identity.pk}/").status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_the_detail_reads_a_fixed_number_of_queries(api_as, auditor, rich):
    client = api_as(auditor)
    plain = IdentityFactory()
    assert _detail_queries(client, rich) == _detail_queries(client, plain)
    body = client.get(f"/api/v1/identities/{rich.pk}/").json()
    assert len(body["grants"]) == 3 and len(body["credentials"]) == 3
    assert body["pending_changes"] == {"scope_changes": [], "ownership_transfers": [], "activation": None}
