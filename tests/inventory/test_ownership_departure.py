"""An owner leaves: active backups are promoted (and asked to confirm), the rest become orphans."""

import pytest

from governance.actors import system
from governance.errors import IllegalTransition, NotAllowed
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from governance.people.models import Role
from governance.people.services import save_user_from_admin
from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from tests.factories import CredentialFactory, IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaver(db, team):
    return UserFactory(username="leaver", roles=[Role.OWNER], team=team)


def deactivate_in_admin(admin, user):
    """What the admin does: saves the user with is_active off; the service fires the signal."""
    user.is_active = False
    save_user_from_admin(admin, user, form=None, change=True)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


def test_deactivating_in_admin_promotes_the_active_backup_and_asks_to_confirm(admin_user, leaver, owner2):
    identity = IdentityFactory(owner=leaver, backup_owner=owner2)
    deactivate_in_admin(admin_user, leaver)
    identity.refresh_from_db()
    assert identity.owner == owner2 and identity.backup_owner is None
    assert identity.team == owner2.team
    transfer = OwnershipTransfer.objects.get(identity=identity)
    assert transfer.auto_promoted and transfer.state == "proposed" and transfer.to_owner == owner2
    event = AuditEvent.objects.get(verb="identity.backup_promoted", subject_id=str(identity.pk))
    assert event.actor == "system:owner_departure" and event.on_behalf_of == "admin"

    ownership.accept_transfer(owner2, transfer, "yes, mine now")
    transfer.refresh_from_db()
    assert transfer.state == "accepted"
    assert Identity.objects.get(pk=identity.pk).owner == owner2


def test_a_promoted_backup_who_declines_sends_the_identity_to_the_orphan_queue(leaver, owner2):
    identity = IdentityFactory(owner=leaver, backup_owner=owner2)
    leaver.is_active = False
    leaver.save()
    ownership.handle_owner_departure(system("hr_import"), leaver)
    transfer = OwnershipTransfer.objects.get(identity=identity)
    ownership.decline_transfer(owner2, transfer, "never used it")
    identity.refresh_from_db()
    assert identity.owner is None
    assert identity in ownership.orphans()


def test_without_an_active_backup_the_identity_is_orphaned_with_one_finding(admin_user, leaver):
    inactive_backup = UserFactory(username="also-gone", is_active=False)
    no_backup = IdentityFactory(owner=leaver, name="no-backup")
    gone_backup = IdentityFactory(owner=leaver, backup_owner=inactive_backup, name="gone-backup")
    deactivate_in_admin(admin_user, leaver)

    for identity in (no_backup, gone_backup):
        identity.refresh_from_db()
        assert identity.owner is None
        assert identity.status == Identity.Status.ACTIVE  # orphaned, not silently suspended
    assert set(ownership.orphans()) == {no_backup, gone_backup}

    run_sweep()
    run_sweep()  # a rerun never duplicates
    findings = Finding.objects.filter(rule="orphaned_owner")
    assert sorted(findings.values_list("identity__name", flat=True)) == ["gone-backup", "no-backup"]
    assert set(findings.values_list("status", flat=True)) == {"open"}


def test_identities_they_back_up_lose_the_backup_and_keep_their_owner(leaver, owner):
    identity = IdentityFactory(owner=owner, backup_owner=leaver)
    leaver.is_active = False
    leaver.save()
    result = ownership.handle_owner_departure(system("sso"), leaver)
    identity.refresh_from_db()
    assert (identity.owner, identity.backup_owner) == (owner, None)
    assert result["backup_cleared"] == [identity.pk]


def test_open_transfers_to_or_from_the_leaver_are_cancelled(owner, leaver):
    mine = IdentityFactory(owner=owner)
    (to_leaver,) = ownership.propose_transfer(owner, [mine], leaver)
    leaver.is_active = False
    leaver.save()
    ownership.handle_owner_departure(system("sso"), leaver)
    to_leaver.refresh_from_db()
    assert to_leaver.state == "cancelled"
    assert Identity.objects.get(pk=mine.pk).owner == owner


def test_credentials_the_leaver_created_are_listed_for_rotation(admin_user, leaver, owner):
    identity = IdentityFactory(owner=owner)
    theirs = CredentialFactory(identity=identity, created_by=leaver, label="leaver-key")
    CredentialFactory(identity=identity, created_by=owner, label="owner-key")
    deactivate_in_admin(admin_user, leaver)
    assert list(ownership.credentials_to_rotate()) == [theirs]


def test_departure_is_idempotent_and_refused_for_active_users(iam, leaver):
    IdentityFactory(owner=leaver)
    with pytest.raises(IllegalTransition):
        ownership.handle_owner_departure(iam, leaver)
    leaver.is_active = False
    leaver.save()
    first = ownership.handle_owner_departure(iam, leaver)
    second = ownership.handle_owner_departure(iam, leaver)
    assert len(first["orphaned"]) == 1
    assert second == {"promoted": [], "orphaned": [], "backup_cleared": []}


def test_only_iam_security_or_a_system_job_may_run_the_departure(owner, leaver):
    leaver.is_active = False
    leaver.save()
    with pytest.raises(NotAllowed):
        ownership.handle_owner_departure(owner, leaver)


def test_reassigning_an_orphan_resolves_its_finding_on_the_next_sweep(iam, owner2, leaver):
    identity = IdentityFactory(owner=leaver)
    leaver.is_active = False
    leaver.save()
    ownership.handle_owner_departure(iam, leaver)
    run_sweep()
    assert Finding.objects.filter(rule="orphaned_owner", identity=identity, status="open").exists()
    ownership.reassign_owner(iam, [identity], owner2, "adopted by payments")
    run_sweep()
    assert not Finding.objects.filter(rule="orphaned_owner", identity=identity, status="open").exists()


def test_the_promoted_backup_and_iam_are_told_after_commit(
    admin_user, leaver, owner2, iam, django_capture_on_commit_callbacks, mailoutbox
):
    IdentityFactory(owner=leaver, backup_owner=owner2, name="has-backup")
    IdentityFactory(owner=leaver, name="no-backup")
    with django_capture_on_commit_callbacks(execute=True):
        deactivate_in_admin(admin_user, leaver)
    recipients = {tuple(m.to) for m in mailoutbox}
    assert (owner2.email,) in recipients and (iam.email,) in recipients
    assert any("has-backup" in m.body for m in mailoutbox if m.to == [owner2.email])
