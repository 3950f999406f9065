"""Small truths (issue 22 item 10): owner pick-lists offer only people who may own an identity (tool
owners, IAM, Security; active), on the identity form, the intake form, transfers and bulk reassignment."""

import pytest

from approvals import forms as intake_forms
from inventory.forms import IdentityEditForm, people
from tests.factories import IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


def _usernames(choices) -> set[str]:
    return {str(value) for value, _label in choices if value}


def test_pick_lists_offer_owners_iam_and_security_only(role_users, team):
    UserFactory(username="left", roles=["owner"], team=team, is_active=False)
    expected = {"owner", "owner2", "iam", "iam2", "security"}
    assert {u.username for u in people()} == expected  # not the auditor, the role-less or the departed
    identity_form = IdentityEditForm(identity=IdentityFactory(owner=role_users["owner"]), governor=True)
    assert _usernames(identity_form.fields["owner"].choices) == expected
    assert _usernames(identity_form.fields["backup_owner"].choices) == expected
    intake_form, _grants = intake_forms.form_pair(user=role_users["owner"])
    assert {u.username for u in intake_form.fields["owner"].queryset} == expected
    assert {u.username for u in intake_form.fields["backup_owner"].queryset} == expected


def test_transfer_and_reassign_pages_list_only_possible_owners(client, role_users):
    identity = IdentityFactory(owner=role_users["owner"])
    client.force_login(role_users["owner"])
    page = client.get(f"/inventory/{identity.pk}/transfer/").content.decode()
    assert 'value="owner2"' in page and 'value="iam"' in page
    assert 'value="auditor"' not in page and 'value="outsider"' not in page
