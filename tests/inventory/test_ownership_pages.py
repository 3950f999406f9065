"""Ownership pages: propose from the identity page, answer in the transfers list, IAM's orphan queue."""

import pytest

from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from tests.factories import CredentialFactory, IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_identity_page_offers_transfer_to_its_owner(client, owner, identity):
    client.force_login(owner)
    html = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert f"/inventory/{identity.pk}/transfer/" in html
    assert "Ownership transfers" in html


def test_propose_then_accept_through_the_pages(client, owner, owner2, identity):
    client.force_login(owner)
    response = client.post(
        f"/inventory/{identity.pk}/transfer/", {"to_owner": "owner2", "reason": "hand-over"}
    )
    assert response.status_code == 302
    transfer = OwnershipTransfer.objects.get()
    client.force_login(owner2)
    page = client.get("/inventory/transfers/").content.decode()
    assert identity.name in page and f"/inventory/transfers/{transfer.pk}/accept/" in page
    assert client.post(f"/inventory/transfers/{transfer.pk}/accept/").status_code == 302
    assert Identity.objects.get(pk=identity.pk).owner == owner2


def test_propose_form_shows_field_errors_and_writes_nothing(client, owner, identity):
    client.force_login(owner)
    response = client.post(f"/inventory/{identity.pk}/transfer/", {"to_owner": "owner", "reason": ""})
    assert response.status_code == 400
    assert "already owns" in response.content.decode()
    assert not OwnershipTransfer.objects.exists()


def test_outsider_cannot_open_the_transfer_form(client, outsider, identity):
    client.force_login(outsider)
    assert client.get(f"/inventory/{identity.pk}/transfer/").status_code == 403


def test_someone_else_accepting_gets_403(client, owner, owner2, iam, identity):
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2)
    client.force_login(iam)
    assert client.post(f"/inventory/transfers/{transfer.pk}/accept/").status_code == 403


def test_orphans_page_is_for_iam_and_reassigns_in_bulk(client, iam, owner, owner2):
    gone = UserFactory(username="gone", roles=[], is_active=False)
    orphan = IdentityFactory(owner=None, name="orphan-bot")
    left = IdentityFactory(owner=gone, name="left-bot")
    CredentialFactory(identity=left, created_by=gone, label="deploy-key")
    client.force_login(owner)
    assert client.get("/inventory/orphans/").status_code == 403
    client.force_login(iam)
    html = client.get("/inventory/orphans/").content.decode()
    assert "orphan-bot" in html and "left-bot" in html and "deploy-key" in html
    response = client.post(
        "/inventory/orphans/", {"identities": [orphan.pk, left.pk], "owner": "owner2", "reason": "cleanup"}
    )
    assert response.status_code == 302
    assert Identity.objects.filter(owner=owner2).count() == 2
    assert "No orphans" in client.get("/inventory/orphans/").content.decode()


def test_orphans_reassign_without_reason_is_400(client, iam):
    orphan = IdentityFactory(owner=None)
    client.force_login(iam)
    response = client.post("/inventory/orphans/", {"identities": [orphan.pk], "owner": "iam", "reason": ""})
    assert response.status_code == 400
    assert Identity.objects.get(pk=orphan.pk).owner is None


@pytest.mark.parametrize("rows", [2, 15])
def test_orphans_and_transfers_pages_run_fixed_queries(
    client, iam, owner, rows, django_assert_max_num_queries
):
    gone = UserFactory(username="gone2", is_active=False)
    for _ in range(rows):
        identity = IdentityFactory(owner=None)
        CredentialFactory(identity=identity, created_by=gone)
        ownership.propose_transfer(iam, [IdentityFactory(owner=owner)], iam)
    client.force_login(iam)
    with django_assert_max_num_queries(14):
        assert client.get("/inventory/orphans/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/inventory/transfers/").status_code == 200
