"""A review's revoke, proven independently (issue 19 item 9), and certifying high tiers with a reason
(item 8): the revoke ends the grants in Steward at once; confirmation comes from IAM or Security other
than the decider, or from a connector's later sync through governance.reviews.remediation; every step is
audited with its real actor."""

from __future__ import annotations

import ast
import inspect
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from governance.reviews import remediation
from governance.reviews.models import ReviewItem
from governance.reviews.services import confirm_remediation, decide, launch_campaign
from inventory.models import Credential, Grant
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked(iam, owner):
    bot = IdentityFactory(owner=owner, name="leaver-bot", risk_tier="low")
    GrantFactory(identity=bot)
    GrantFactory(identity=bot, resource_name="org/other", expires_at=timezone.now() + timedelta(days=3))
    CredentialFactory(identity=bot)
    campaign = launch_campaign(iam, "Q", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7))
    item = campaign.items.get(identity=bot)
    return decide(owner, item, "revoke", "the project ended")


def test_a_revoke_ends_every_grant_at_once_and_leaves_the_remediation_pending(revoked):
    bot = revoked.identity
    assert not Grant.objects.current().filter(identity=bot).exists()
    assert set(revoked.removed_grants) == set(bot.grants.values_list("pk", flat=True))
    assert revoked.remediation_state == ReviewItem.Remediation.PENDING
    assert revoked.remediation_action_at is not None and revoked.remediation_action_at >= revoked.decided_at
    ended = AuditEvent.objects.get(verb="grant.ended", subject_id=str(bot.pk))
    assert ended.actor == "owner"  # in the decision's transaction, by the decider


@pytest.mark.parametrize("who", ["owner", "owner2", "auditor", "outsider"])
def test_nobody_but_an_independent_governor_confirms(role_users, revoked, who):
    with pytest.raises(NotAllowed):
        confirm_remediation(role_users[who], revoked, "done")


def test_the_iam_decider_cannot_confirm_their_own_revoke_but_another_iam_can(iam, iam2, owner2):
    bot = IdentityFactory(owner=owner2, name="iam-decided", risk_tier="low")
    campaign = launch_campaign(iam, "Q", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7))
    item = decide(iam, campaign.items.get(identity=bot), "revoke", "no owner answer")
    with pytest.raises(NotAllowed, match="decided this revoke"):
        confirm_remediation(iam, item, "I did it")
    done = confirm_remediation(iam2, item, "CHG-9 key deleted")
    assert done.remediation_state == "confirmed" and done.remediation_confirmed_by_label == "iam2"
    event = AuditEvent.objects.get(verb="review.remediation_confirmed")
    assert (
        event.actor == "iam2" and event.after["decided_by"] == "iam" and event.reason == "CHG-9 key deleted"
    )
    with pytest.raises(IllegalTransition):
        confirm_remediation(iam2, item, "again")


def test_security_confirms_and_every_revoked_credential_is_confirmed_too(security, revoked):
    confirm_remediation(security, revoked, "keys removed from Vault")
    assert not Credential.objects.filter(
        identity=revoked.identity, revocation_confirmed_at__isnull=True
    ).exists()


def test_a_connector_sync_confirms_through_confirm_by_source(revoked):
    done = remediation.confirm_by_source(revoked.identity, "connector:aws-prod")
    assert [i.pk for i in done] == [revoked.pk]
    revoked.refresh_from_db()
    assert revoked.remediation_state == "confirmed"
    assert revoked.remediation_confirmed_by_label == "system:connector:aws-prod"
    assert revoked.remediation_confirmed_by is None and "aws-prod" in revoked.remediation_note
    event = AuditEvent.objects.get(verb="review.remediation_confirmed")
    assert event.actor == "system:connector:aws-prod" and event.actor_kind == "system"
    assert remediation.confirm_by_source(revoked.identity, "connector:aws-prod") == []  # nothing left


def test_a_failure_at_the_source_is_recorded_and_a_later_sync_still_confirms(revoked):
    (failed,) = remediation.fail_by_source(
        revoked.identity, "connector:aws-prod", "AccessDenied on iam:Delete"
    )
    assert failed.remediation_state == "failed" and failed.remediation_error == "AccessDenied on iam:Delete"
    assert AuditEvent.objects.filter(
        verb="review.remediation_failed", actor="system:connector:aws-prod"
    ).exists()
    (done,) = remediation.confirm_by_source(revoked.identity.pk, "system:connector:aws-prod")
    assert done.remediation_state == "confirmed" and done.remediation_error == ""


def test_the_remediation_hook_imports_nothing_from_connectors():
    for module in (remediation, inspect.getmodule(remediation.confirm_by_source)):
        tree = ast.parse(inspect.getsource(module))
        names = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in getattr(node, "names", [])
        ]
        assert not any((name or "").startswith("connectors") for name in names)


def test_certifying_a_high_or_critical_identity_without_a_reason_is_refused(iam, owner):
    high = IdentityFactory(owner=owner, name="high", risk_tier="high")
    critical = IdentityFactory(owner=owner, name="critical", risk_tier="critical")
    low = IdentityFactory(owner=owner, name="low", risk_tier="low")
    campaign = launch_campaign(iam, "Q", {}, timezone.now() + timedelta(days=7))
    for identity in (high, critical):
        item = campaign.items.get(identity=identity)
        with pytest.raises(ValidationError) as caught:
            decide(owner, item, "certify", "  ")
        assert "reason" in caught.value.message_dict
        assert ReviewItem.objects.get(pk=item.pk).decision == "pending"
        assert decide(owner, item, "certify", "grants checked with the team").decision == "certify"
    assert decide(owner, campaign.items.get(identity=low), "certify", "").decision == "certify"


def test_the_browser_form_shows_the_reason_error_for_a_high_tier_certify(client, iam, owner):
    high = IdentityFactory(owner=owner, name="high-form", risk_tier="high")
    campaign = launch_campaign(iam, "Q", {"risk_tiers": ["high"]}, timezone.now() + timedelta(days=7))
    item = campaign.items.get(identity=high)
    client.force_login(owner)
    client.get(item.get_absolute_url())
    response = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "certify", "reason": ""})
    body = response.content.decode()
    assert response.status_code == 400 and "needs a reason" in body and "is-invalid" in body


def test_the_item_page_offers_confirmation_to_another_governor_only(client, iam, owner, revoked):
    client.force_login(owner)
    page = client.get(revoked.get_absolute_url()).content.decode()
    assert "Confirm revocation" not in page and "remediation pending" in page
    client.force_login(iam)
    page = client.get(revoked.get_absolute_url()).content.decode()
    assert "Confirm revocation" in page
    queue = client.get("/reviews/").content.decode()
    assert "Revocations to confirm" in queue and "leaver-bot" in queue
