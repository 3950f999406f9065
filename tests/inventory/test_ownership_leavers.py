"""Owners who leave outside the admin: the HR leavers import deactivates people through one service
(atomic, audited as system:hr_import) and so re-homes what they owned; a bad row imports nothing."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command

from governance.errors import NotAllowed
from governance.models import AuditEvent
from governance.people import hr_import
from governance.people.models import Role, User
from governance.people.services import deactivate_user
from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from tests.factories import IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaver(db, team):
    return UserFactory(username="leaver", email="Leaver@Example.com", roles=[Role.OWNER], team=team)


@pytest.fixture
def leaver2(db, team):
    return UserFactory(username="leaver2", roles=[Role.OWNER], team=team)


def leavers_file(tmp_path, text):
    path = tmp_path / "leavers.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_hr_import_deactivates_leavers_and_rehomes_their_identities(
    tmp_path, capsys, leaver, leaver2, owner2
):
    backed_up = IdentityFactory(owner=leaver, backup_owner=owner2, name="backed-up")
    alone = IdentityFactory(owner=leaver2, name="alone")
    path = leavers_file(
        tmp_path, "username,email,left_on\n,leaver@example.com,2025-01-31\nleaver2,,2025-02-01\n"
    )

    call_command("import_hr_leavers", path)

    assert "2 deactivated" in capsys.readouterr().out
    assert not User.objects.filter(pk__in=[leaver.pk, leaver2.pk], is_active=True).exists()
    events = AuditEvent.objects.filter(verb="user.deactivated").order_by("seq")
    assert [(e.subject_id, e.actor) for e in events] == [
        (str(leaver.pk), "system:hr_import"),
        (str(leaver2.pk), "system:hr_import"),
    ]
    assert "left on 2025-01-31" in events[0].reason and "leavers.csv" in events[0].reason
    assert Identity.objects.get(pk=backed_up.pk).owner == owner2
    assert OwnershipTransfer.objects.get(identity=backed_up, auto_promoted=True).to_owner == owner2
    assert Identity.objects.get(pk=alone.pk).owner is None
    assert set(ownership.orphans()) == {Identity.objects.get(pk=alone.pk)}
    orphaned = AuditEvent.objects.get(verb="identity.orphaned")
    assert orphaned.on_behalf_of == "system:hr_import"


def test_a_rerun_of_the_same_file_changes_nothing(tmp_path, capsys, leaver):
    path = leavers_file(tmp_path, "username,left_on\nleaver,2025-01-31\n")
    call_command("import_hr_leavers", path)
    count = AuditEvent.objects.count()
    call_command("import_hr_leavers", path)
    assert "0 deactivated, 1 already inactive" in capsys.readouterr().out
    assert AuditEvent.objects.count() == count


def test_a_bad_row_is_named_and_nothing_is_imported(tmp_path, leaver, leaver2):
    IdentityFactory(owner=leaver)
    path = leavers_file(
        tmp_path, "username,left_on\nleaver,2025-01-31\nnobody,2025-01-31\nleaver2,31/01/2025\n"
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_hr_leavers", path)
    message = str(raised.value)
    assert "nothing imported" in message
    assert "row 3: no user with username 'nobody'" in message
    assert "row 4: left_on '31/01/2025' is not a date" in message
    assert User.objects.filter(username__in=["leaver", "leaver2"], is_active=True).count() == 2
    assert not AuditEvent.objects.filter(verb="user.deactivated").exists()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("name,left_on\nleaver,2025-01-31\n", "row 1: the header needs a username or email column"),
        ("username,left_on\n,2025-01-31\n", "row 2: give a username or an email"),
        ("username,left_on\nleaver,2999-01-01\n", "row 2: left_on 2999-01-01 is in the future"),
        ("username,email,left_on\nleaver,owner2@example.com,2025-01-31\n", "name different people"),
        ("email,left_on\nnobody@example.com,2025-01-31\n", "row 2: no user with email"),
    ],
)
def test_each_kind_of_bad_row_is_refused(leaver, owner2, text, error):
    with pytest.raises(hr_import.LeaversRejected) as raised:
        hr_import.import_leavers(text, today=date(2025, 3, 1))
    assert any(error in e for e in raised.value.errors), raised.value.errors
    assert User.objects.get(pk=leaver.pk).is_active


def test_a_failure_in_the_departure_handling_leaves_everyone_active(leaver, leaver2, monkeypatch):
    IdentityFactory(owner=leaver2)
    calls = []

    def failing(actor, user):
        calls.append(user.username)
        if user.username == "leaver2":
            raise RuntimeError("database went away")

    monkeypatch.setattr(ownership, "handle_owner_departure", failing)
    with pytest.raises(RuntimeError):
        hr_import.import_leavers("username,left_on\nleaver,2025-01-31\nleaver2,2025-01-31\n")
    assert calls == ["leaver", "leaver2"]
    assert User.objects.filter(username__in=["leaver", "leaver2"], is_active=True).count() == 2
    assert not AuditEvent.objects.filter(verb="user.deactivated").exists()


def test_the_dry_run_checks_the_file_and_changes_nothing(tmp_path, capsys, leaver):
    call_command(
        "import_hr_leavers", leavers_file(tmp_path, "username,left_on\nleaver,2025-01-31\n"), dry_run=True
    )
    assert "1 leaver(s) found" in capsys.readouterr().out
    assert User.objects.get(pk=leaver.pk).is_active


def test_only_user_administrators_or_a_system_job_may_deactivate_people(iam, leaver):
    with pytest.raises(NotAllowed):
        deactivate_user(iam, leaver, reason="not theirs to do")
    assert User.objects.get(pk=leaver.pk).is_active
