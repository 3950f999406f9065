"""Ownership transfers: proposed by an owner or IAM, applied only when the new owner accepts."""

import pytest
from django.core.exceptions import ValidationError

from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from tests.factories import IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_transfer_is_applied_only_after_the_new_owner_accepts(owner, owner2, identity):
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2, "moving to payments")
    identity.refresh_from_db()
    assert identity.owner == owner
    assert transfer.state == OwnershipTransfer.State.PROPOSED

    ownership.accept_transfer(owner2, transfer)
    identity.refresh_from_db()
    transfer.refresh_from_db()
    assert transfer.state == OwnershipTransfer.State.ACCEPTED
    assert identity.owner == owner2
    assert identity.team == owner2.team
    event = AuditEvent.objects.get(verb="identity.owner_transferred", subject_id=str(identity.pk))
    assert event.before["owner"] == "owner" and event.after["owner"] == "owner2"
    assert event.actor == "owner2"


def test_a_decline_changes_nothing(owner, owner2, identity):
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2)
    before = Identity.objects.values("owner", "team", "backup_owner", "version").get(pk=identity.pk)
    ownership.decline_transfer(owner2, transfer, "not my area")
    transfer.refresh_from_db()
    assert transfer.state == OwnershipTransfer.State.DECLINED
    assert Identity.objects.values("owner", "team", "backup_owner", "version").get(pk=identity.pk) == before
    assert AuditEvent.objects.filter(verb="identity.transfer_declined", subject_id=str(identity.pk)).exists()


@pytest.mark.parametrize("who", ["owner", "iam", "security", "outsider", "auditor"])
def test_only_the_proposed_new_owner_may_accept_or_decline(role_users, identity, who):
    (transfer,) = ownership.propose_transfer(role_users["owner"], [identity], role_users["owner2"])
    with pytest.raises(NotAllowed):
        ownership.accept_transfer(role_users[who], transfer)
    with pytest.raises(NotAllowed):
        ownership.decline_transfer(role_users[who], transfer)
    assert Identity.objects.get(pk=identity.pk).owner == role_users["owner"]


def test_a_decided_transfer_cannot_be_decided_again(owner, owner2, identity):
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2)
    ownership.decline_transfer(owner2, transfer)
    with pytest.raises(IllegalTransition):
        ownership.accept_transfer(owner2, transfer)


def test_owner_or_iam_may_propose_but_others_may_not(owner, owner2, iam, outsider, identity):
    with pytest.raises(NotAllowed):
        ownership.propose_transfer(owner2, [identity], outsider)
    (transfer,) = ownership.propose_transfer(iam, [identity], owner2)
    assert transfer.proposed_by == "iam"


def test_the_new_owner_must_be_active_and_differ(owner, identity):
    gone = UserFactory(username="gone", is_active=False)
    with pytest.raises(ValidationError) as err:
        ownership.propose_transfer(owner, [identity], gone)
    assert "to_owner" in err.value.message_dict
    with pytest.raises(ValidationError):
        ownership.propose_transfer(owner, [identity], owner)
    assert not OwnershipTransfer.objects.exists()


def test_only_one_open_transfer_per_identity(owner, owner2, iam, identity):
    ownership.propose_transfer(owner, [identity], owner2)
    with pytest.raises(IllegalTransition):
        ownership.propose_transfer(owner, [identity], iam)


def test_many_identities_in_one_proposal_share_a_batch(owner, owner2):
    identities = [IdentityFactory(owner=owner) for _ in range(3)]
    transfers = ownership.propose_transfer(owner, identities, owner2, "team move")
    assert len({t.batch for t in transfers}) == 1
    for transfer in transfers:
        ownership.accept_transfer(owner2, transfer)
    assert Identity.objects.filter(owner=owner2).count() == 3


def test_accepting_when_the_owner_changed_meanwhile_is_refused(owner, owner2, iam, identity):
    (transfer,) = ownership.propose_transfer(iam, [identity], owner2)
    # IAM reassigns directly: the open transfer is superseded.
    ownership.reassign_owner(iam, [identity], iam, "orphan cleanup")
    transfer.refresh_from_db()
    assert transfer.state == OwnershipTransfer.State.CANCELLED
    with pytest.raises(IllegalTransition):
        ownership.accept_transfer(owner2, transfer)


def test_when_the_backup_takes_over_the_old_owner_becomes_backup(owner, owner2):
    identity = IdentityFactory(owner=owner, backup_owner=owner2)
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2)
    ownership.accept_transfer(owner2, transfer)
    identity.refresh_from_db()
    assert (identity.owner, identity.backup_owner) == (owner2, owner)


def test_iam_reassigns_in_bulk_with_a_reason(iam, owner, owner2):
    identities = [IdentityFactory(owner=owner) for _ in range(3)]
    with pytest.raises(ValidationError):
        ownership.reassign_owner(iam, identities, owner2, "")
    assert ownership.reassign_owner(iam, identities, owner2, "reorg") == 3
    assert Identity.objects.filter(owner=owner2, team=owner2.team).count() == 3
    assert AuditEvent.objects.filter(verb="identity.owner_reassigned", reason="reorg").count() == 3


def test_owners_cannot_reassign_directly(owner, owner2, identity):
    with pytest.raises(NotAllowed):
        ownership.reassign_owner(owner, [identity], owner2, "mine anyway")


def test_the_proposed_new_owner_is_told(
    owner, owner2, identity, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        ownership.propose_transfer(owner, [identity], owner2, "hand-over")
    assert [m.to for m in mailoutbox] == [[owner2.email]]
    assert identity.name in mailoutbox[0].body


def test_the_proposed_new_owner_is_told_through_the_outbox(owner, owner2, identity):
    """Ownership transfers notify through the outbox approvals registers in `inventory.routes` (the
    inventory imports nothing above it): one row, in the proposal's transaction, for the new owner."""
    from approvals.models import Notification
    from governance.links import link

    ownership.propose_transfer(owner, [identity], owner2, "moving to payments")
    (note,) = Notification.objects.filter(event="ownership.transfer_proposed")
    assert [r["username"] for r in note.recipients] == ["owner2"]
    assert note.url.endswith(link(ownership.TRANSFERS_PAGE))
