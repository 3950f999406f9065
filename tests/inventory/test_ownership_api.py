"""Ownership API: ownership-transfers/ (propose, accept, decline) and identities/reassign/."""

import pytest

from inventory.models import Identity, OwnershipTransfer
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


def test_owner_proposes_and_new_owner_accepts_over_the_api(api_as, owner, owner2, identity):
    response = api_as(owner).post(
        "/api/v1/ownership-transfers/",
        {"identities": [identity.pk], "to_owner": "owner2", "reason": "team move"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    (row,) = response.json()
    assert row["state"] == "proposed" and row["from_owner"] == "owner" and row["to_owner"] == "owner2"

    assert api_as(owner).post(f"/api/v1/ownership-transfers/{row['id']}/accept/").status_code == 403
    response = api_as(owner2).post(f"/api/v1/ownership-transfers/{row['id']}/accept/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "accepted"
    assert Identity.objects.get(pk=identity.pk).owner == owner2
    again = api_as(owner2).post(f"/api/v1/ownership-transfers/{row['id']}/decline/")
    assert again.status_code == 409


def test_a_single_identity_shorthand_and_bad_input_give_400(api_as, owner, identity):
    bad = api_as(owner).post("/api/v1/ownership-transfers/", {"identity": identity.pk, "to_owner": "nobody"})
    assert bad.status_code == 400 and "to_owner" in bad.json()
    same = api_as(owner).post("/api/v1/ownership-transfers/", {"identity": identity.pk, "to_owner": "owner"})
    assert same.status_code == 400 and "to_owner" in same.json()
    assert not OwnershipTransfer.objects.exists()


def test_decline_over_the_api_changes_nothing(api_as, owner, owner2, identity):
    row = (
        api_as(owner)
        .post(
            "/api/v1/ownership-transfers/", {"identities": [identity.pk], "to_owner": "owner2"}, format="json"
        )
        .json()[0]
    )
    response = api_as(owner2).post(f"/api/v1/ownership-transfers/{row['id']}/decline/", {"comment": "no"})
    assert response.status_code == 200 and response.json()["state"] == "declined"
    assert Identity.objects.get(pk=identity.pk).owner == owner


def test_owners_see_only_their_transfers_auditors_see_all(api_as, owner, owner2, iam, auditor, outsider):
    for _ in range(2):
        api_as(owner).post(
            "/api/v1/ownership-transfers/",
            {"identities": [IdentityFactory(owner=owner).pk], "to_owner": "owner2"},
            format="json",
        )
    assert api_as(owner2).get("/api/v1/ownership-transfers/").json()["count"] == 2
    assert api_as(iam).get("/api/v1/ownership-transfers/?state=proposed").json()["count"] == 2
    assert api_as(auditor).get("/api/v1/ownership-transfers/").json()["count"] == 2
    assert api_as(outsider).get("/api/v1/ownership-transfers/").status_code == 403


@pytest.mark.parametrize("rows", [2, 12])
def test_transfer_list_runs_a_fixed_number_of_queries(
    api_as, owner, owner2, iam, rows, django_assert_max_num_queries
):
    ids = [IdentityFactory(owner=owner).pk for _ in range(rows)]
    api_as(owner).post(
        "/api/v1/ownership-transfers/", {"identities": ids, "to_owner": "owner2"}, format="json"
    )
    client = api_as(iam)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/ownership-transfers/")
    assert response.json()["count"] == rows


def test_iam_reassigns_in_bulk_over_the_api(api_as, iam, owner, owner2):
    ids = [IdentityFactory(owner=owner).pk for _ in range(3)]
    response = api_as(iam).post(
        "/api/v1/identities/reassign/",
        {"identities": ids, "owner": "owner2", "reason": "reorg"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"reassigned": 3, "owner": "owner2"}
    assert Identity.objects.filter(pk__in=ids, owner=owner2).count() == 3


@pytest.mark.parametrize("who,expected", [("owner", 403), ("auditor", 403), ("iam", 200), ("security", 200)])
def test_reassign_is_for_iam_and_security(api_as, role_users, owner2, who, expected):
    identity = IdentityFactory(owner=role_users["owner"])
    response = api_as(role_users[who]).post(
        "/api/v1/identities/reassign/",
        {"identities": [identity.pk], "owner": "owner2", "reason": "orphan"},
        format="json",
    )
    assert response.status_code == expected


def test_reassign_without_reason_or_unknown_identity_is_400(api_as, iam, owner2):
    assert (
        api_as(iam)
        .post("/api/v1/identities/reassign/", {"identities": [1], "owner": "owner2"}, format="json")
        .status_code
        == 400
    )
    response = api_as(iam).post(
        "/api/v1/identities/reassign/",
        {"identities": [999999], "owner": "owner2", "reason": "x"},
        format="json",
    )
    assert response.status_code == 400 and "identities" in response.json()


def test_the_schema_lists_the_ownership_endpoints(api_as, iam):
    schema = api_as(iam).get("/api/schema/?format=json").json()
    assert "/api/v1/ownership-transfers/{id}/accept/" in schema["paths"]
    assert "/api/v1/identities/reassign/" in schema["paths"]
