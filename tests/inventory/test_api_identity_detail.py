"""identities/{id}/ (issue 23): written by hand, it says exactly what DRF's generic fields say, and
reads a fixed number of queries however many grants and credentials the identity holds."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from governance.findings.models import Finding
from governance.permissions import MEMBER_PERMISSIONS
from inventory.api import _with_details
from inventory.filters import base_queryset
from inventory.models import Identity
from inventory.serializers import (
    PENDING_FLAGS,
    IdentityDetailSerializer,
    IdentitySerializer,
    pending_changes,
    with_pending_flags,
)
from tests.conftest import patch_identity
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


# ------------------------------------------------- the read from kept statements (inventory.api.read_detail)


def _orm_detail(identity) -> dict:
    """What the detail said before it read from kept statements: DRF's serializer over the ORM's rows,
    rendered as the API renders it."""
    data = IdentityDetailSerializer(_with_details(base_queryset()).get(pk=identity.pk)).data
    return json.loads(JSONRenderer().render(data))


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_the_detail_read_from_kept_statements_says_what_the_orm_read_says(
    settings, api_as, auditor, rich, zone
):
    settings.TIME_ZONE = zone
    Finding.objects.create(rule="stale_unused", identity=rich, severity="medium")
    bare = IdentityFactory(owner=None, team=None, vendor="", environments=[])
    client = api_as(auditor)
    for identity in (rich, bare):
        for _ in range(2):  # compiled on the first, kept for the second
            response = client.get(f"/api/v1/identities/{identity.pk}/")
            assert response.status_code == 200
            assert response.json() == _orm_detail(identity)
    assert len(client.get(f"/api/v1/identities/{rich.pk}/").json()["findings"]) == 1


@pytest.mark.django_db
def test_pending_changes_read_from_kept_statements(api_as, iam, owner, owner2, other_team):
    from tests.inventory.test_api_identities import payload

    created = api_as(iam).post("/api/v1/identities/", payload(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()  # answered from model instances (the ORM)
    pending = body["pending_changes"]
    assert pending["ownership_transfers"] and pending["activation"] is not None
    assert api_as(iam).get(f"/api/v1/identities/{body['id']}/").json() == body


@pytest.mark.django_db
def test_a_scope_change_is_shown_the_same_way(api_as, owner):
    identity = IdentityFactory(owner=owner, vendor="SketchyAI", model_name="sk-1")
    edited = patch_identity(api_as(owner), identity, {"vendor": "Anthropic", "reason": "we switched"})
    assert edited.status_code == 202, edited.json()
    (change,) = edited.json()["pending_changes"]["scope_changes"]
    assert change["changes"] == {"vendor": "Anthropic"}
    assert api_as(owner).get(f"/api/v1/identities/{identity.pk}/").json() == edited.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "pk, detail",
    [
        ("0", "No Identity matches the given query."),
        ("9223372036854775807", "No Identity matches the given query."),
        ("abc", "Not found."),  # DRF's get_object_or_404 on a value int() refuses
        ("99999999999999999999", "No Identity matches the given query."),
        ("-4", "No Identity matches the given query."),
    ],
)
def test_what_is_not_an_identity_is_the_same_404_as_before(api_as, auditor, pk, detail):
    response = api_as(auditor).get(f"/api/v1/identities/{pk}/")
    assert response.status_code == 404
    assert response.json() == {"detail": detail}


@pytest.mark.django_db
def test_an_id_only_int_reads_is_still_read_as_before(api_as, auditor, rich):
    """DRF's path reads "+5" as 5 (int() does); the kept statements take only plain digits, so such an
    id goes down DRF's path and is answered as before."""
    response = api_as(auditor).get(f"/api/v1/identities/+{rich.pk}/")
    assert response.status_code == 200 and response.json()["id"] == rich.pk


@pytest.mark.django_db
def test_the_browsable_api_keeps_its_forms(api_as, auditor, rich):
    response = api_as(auditor).get(f"/api/v1/identities/{rich.pk}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert hasattr(response.data, "serializer")  # what the HTML forms are filled from
    assert json.loads(JSONRenderer().render(response.data)) == _orm_detail(rich)


@pytest.mark.django_db
def test_a_filter_in_the_query_still_narrows_the_one_identity(api_as, auditor, rich):
    """DRF's get_object applies the list's filters to the detail too; that is kept."""
    client = api_as(auditor)
    plain = client.get(f"/api/v1/identities/{rich.pk}/")
    assert client.get(f"/api/v1/identities/{rich.pk}/?status={rich.status}").json() == plain.json()
    other = "decommissioned" if rich.status != "decommissioned" else "active"
    assert client.get(f"/api/v1/identities/{rich.pk}/?status={other}").status_code == 404


@pytest.mark.django_db
def test_the_statements_are_compiled_once(api_as, auditor, rich):
    client = api_as(auditor)
    with mock.patch("inventory.api.with_pending_flags", wraps=with_pending_flags) as building:
        for _ in range(3):
            assert client.get(f"/api/v1/identities/{rich.pk}/").status_code == 200
    assert building.call_count <= 1  # none when an earlier test in this process compiled it


def test_the_pending_flags_are_the_annotations_the_orm_read_adds():
    assert tuple(with_pending_flags(Identity.objects.all()).query.annotations) == PENDING_FLAGS


def test_no_permission_of_the_identities_api_looks_at_the_object():
    """The read from kept statements checks object permissions on an identity built from its row; none of
    the viewset's permission classes has any of its own, so nothing is checked against a partial object."""
    for permission in MEMBER_PERMISSIONS:
        assert permission.has_object_permission is BasePermission.has_object_permission, permission


@pytest.mark.django_db
def test_the_kept_statements_compare_with_the_time_of_each_request(api_as, auditor, owner, rich):
    """The active exceptions are read through a statement compiled with a stand-in for `now`: an
    exception that expires between two requests leaves the second answer (the time is not the first
    request's)."""
    from governance.exceptions.models import PolicyException

    exception = PolicyException.objects.create(
        identity=rich,
        rule="stale_unused",
        justification="migration window",
        expires_at=timezone.now() + timedelta(hours=1),
        requested_by=owner,
        state=PolicyException.State.ACTIVE,
    )
    client = api_as(auditor)
    first = client.get(f"/api/v1/identities/{rich.pk}/").json()
    assert [e["id"] for e in first["exceptions"]] == [exception.pk]
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        later = client.get(f"/api/v1/identities/{rich.pk}/").json()
        assert later["exceptions"] == [] and later == _orm_detail(rich)
