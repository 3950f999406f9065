"""SSO deprovisioning: when the identity provider says an account is disabled, Steward deactivates
the user as `system:sso` and re-homes what they owned, exactly as the admin path does."""

import pytest

from governance.models import AuditEvent
from governance.people.models import Role, User
from inventory.models import Identity, OwnershipTransfer
from tests.factories import IdentityFactory, UserFactory
from tests.security.test_sso import bind, signed_in_username, sso_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaver(db, team, sso):
    user = UserFactory(username="leaver", email="leaver@example.com", roles=[Role.OWNER], team=team)
    bind(user, sso, "leaver-sub")
    return user


def test_a_user_the_provider_reports_disabled_is_deprovisioned_and_their_identities_rehomed(
    client, sso, leaver, owner2
):
    backed_up = IdentityFactory(owner=leaver, backup_owner=owner2, name="backed-up")
    alone = IdentityFactory(owner=leaver, name="alone")
    sso.set_user("leaver-sub", preferred_username="leaver", email="leaver@example.com", active=False)

    response = sso_login(client, sso, "leaver-sub")

    assert response.status_code == 403 and b"reports this account disabled" in response.content
    assert signed_in_username(client) is None
    assert User.objects.get(pk=leaver.pk).is_active is False
    event = AuditEvent.objects.get(verb="user.deactivated", subject_id=str(leaver.pk))
    assert event.actor == "system:sso" and "identity provider" in event.reason
    assert Identity.objects.get(pk=backed_up.pk).owner == owner2
    assert OwnershipTransfer.objects.get(identity=backed_up).auto_promoted
    assert Identity.objects.get(pk=alone.pk).owner is None
    orphaned = AuditEvent.objects.get(verb="identity.orphaned", subject_id=str(alone.pk))
    assert orphaned.actor == "system:owner_departure" and orphaned.on_behalf_of == "system:sso"


@pytest.mark.parametrize("claim", [{"active": True}, {}])
def test_an_active_or_silent_claim_changes_nothing(client, sso, leaver, claim):
    identity = IdentityFactory(owner=leaver)
    sso.set_user(
        "leaver-sub", preferred_username="leaver", email="leaver@example.com", groups=["engineering"], **claim
    )
    sso_login(client, sso, "leaver-sub")
    assert signed_in_username(client) == "leaver"
    assert Identity.objects.get(pk=identity.pk).owner == leaver
    assert not AuditEvent.objects.filter(verb="user.deactivated").exists()


def test_a_disabled_account_unknown_to_steward_is_not_created(client, sso):
    sso.set_user("ghost-sub", preferred_username="ghost", email="ghost@example.com", active="disabled")
    sso_login(client, sso, "ghost-sub")
    assert not User.objects.filter(username="ghost").exists()
