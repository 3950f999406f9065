"""Decisions on review items: who may decide, what each decision does, sign-off, remediation, close."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.actors import system
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from governance.reviews.models import ReviewItem, ReviewReminder
from governance.reviews.services import (
    bulk_certify,
    close_campaign,
    confirm_remediation,
    decide,
    launch_campaign,
    reassign,
    record_shown,
    send_reminders,
    sign_off,
)
from inventory.models import Credential, Grant, Identity
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


def campaign_over(actor, *identities, **scope):
    campaign = launch_campaign(actor, "Review", scope, "2099-01-31")
    return {item.identity_id: item for item in campaign.items.all()} if identities else campaign


@pytest.fixture
def bot(owner):
    bot = IdentityFactory(owner=owner, name="ci-bot", risk_tier="medium")
    GrantFactory(identity=bot, resource_name="org/a", actions=["read_code"])
    GrantFactory(identity=bot, resource_name="org/b", actions=["merge"])
    CredentialFactory(identity=bot, label="ci-key")
    return bot


@pytest.fixture
def item(iam, bot):
    return campaign_over(iam, bot)[bot.pk]


@pytest.mark.django_db
def test_owner_certifies_and_the_identity_counts_as_reviewed(owner, item, bot):
    decided = decide(owner, item, "certify", "still used by the release pipeline")
    bot.refresh_from_db()
    assert decided.decision == "certify" and decided.decided_by == owner
    assert bot.last_reviewed_at is not None
    assert bot.next_review_due == (timezone.now() + timedelta(days=180)).date()
    event = AuditEvent.objects.get(verb="review.certify")
    assert event.actor == "owner" and event.reason == "still used by the release pipeline"


@pytest.mark.django_db
def test_modify_ends_the_chosen_grants_through_the_inventory_and_needs_a_reason(owner, item, bot):
    merge = bot.grants.get(resource_name="org/b")
    with pytest.raises(ValidationError) as caught:
        decide(owner, item, "modify", "", grants=[merge.pk])
    assert "reason" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        decide(owner, item, "modify", "too broad", grants=[])
    assert "grants" in caught.value.message_dict

    decide(owner, item, "modify", "merge is no longer needed", grants=[merge.pk])

    assert list(Grant.objects.current().filter(identity=bot).values_list("resource_name", flat=True)) == [
        "org/a"
    ]
    merge.refresh_from_db()
    assert merge.ended_at is not None and "merge is no longer needed" in merge.end_reason
    assert AuditEvent.objects.filter(verb="grant.ended", actor="owner").exists()
    assert ReviewItem.objects.get(pk=item.pk).removed_grants == [merge.pk]


@pytest.mark.django_db
def test_modify_refuses_grants_of_another_identity(owner, item):
    stranger = GrantFactory()
    with pytest.raises(ValidationError) as caught:
        decide(owner, item, "modify", "trim", grants=[stranger.pk])
    assert "grants" in caught.value.message_dict
    assert ReviewItem.objects.get(pk=item.pk).decision == "pending"


@pytest.mark.django_db
def test_revoke_suspends_and_leaves_a_remediation_until_it_is_confirmed(owner, iam, item, bot):
    with pytest.raises(ValidationError):
        decide(owner, item, "revoke", "   ")

    decide(owner, item, "revoke", "tool replaced by the new pipeline")

    bot.refresh_from_db()
    assert bot.status == Identity.Status.SUSPENDED
    credential = Credential.objects.get(identity=bot)
    assert credential.revoked_at is not None and credential.revocation_confirmed_at is None
    item.refresh_from_db()
    assert item.remediation_state == "pending"
    assert ReviewItem.objects.filter(remediation_state="pending").count() == 1

    with pytest.raises(ValidationError) as caught:
        confirm_remediation(iam, item, "")
    assert "note" in caught.value.message_dict
    confirm_remediation(iam, item, "CHG-1234: key deleted in Vault")

    item.refresh_from_db()
    credential.refresh_from_db()
    assert item.remediation_state == "confirmed" and item.remediation_confirmed_by == iam
    assert credential.revocation_confirmed_at is not None and credential.revocation_note.startswith(
        "CHG-1234"
    )
    with pytest.raises(IllegalTransition):
        confirm_remediation(iam, item, "again")


@pytest.mark.django_db
def test_let_expire_only_when_every_grant_is_time_bound(owner, iam, bot, item):
    with pytest.raises(ValidationError) as caught:
        decide(owner, item, "let_expire", "")
    assert "decision" in caught.value.message_dict
    temp = IdentityFactory(owner=owner, name="temp-bot")
    GrantFactory(identity=temp, expires_at=timezone.now() + timedelta(days=5))
    temp_item = campaign_over(iam, temp)[temp.pk]
    assert decide(owner, temp_item, "let_expire", "").decision == "let_expire"


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner2", "auditor", "security", "outsider"])
def test_only_the_reviewer_or_iam_decides(role_users, item, username):
    with pytest.raises(NotAllowed):
        decide(role_users[username], item, "certify", "")


@pytest.mark.django_db
def test_iam_may_decide_any_item_but_a_system_job_may_not(iam, item):
    with pytest.raises(NotAllowed):
        decide(system("job"), item, "certify", "")
    assert decide(iam, item, "certify", "checked with the team").decided_by == iam


@pytest.mark.django_db
def test_a_decided_item_cannot_be_decided_again(owner, item):
    decide(owner, item, "certify", "")
    with pytest.raises(IllegalTransition):
        decide(owner, item, "revoke", "changed my mind")


@pytest.mark.django_db
def test_a_closed_campaign_refuses_decisions(owner, iam, item):
    close_campaign(iam, item.campaign)
    with pytest.raises(IllegalTransition):
        decide(owner, item, "certify", "")


@pytest.mark.django_db
def test_closing_marks_open_items_not_reviewed_and_their_identities_overdue(owner, iam, bot, item):
    other = IdentityFactory(owner=owner, name="other", risk_tier="high")
    campaign = item.campaign
    close_campaign(iam, campaign)  # the first campaign only holds `bot`
    second = campaign_over(iam, other, risk_tiers=["high"])[other.pk]
    decide(owner, second, "certify", "needed")  # high tier: waits for IAM sign-off

    result = close_campaign(iam, second.campaign)

    assert result == {"not_reviewed": 0, "signoff_lapsed": 1, "identities_marked_overdue": 1}
    item.refresh_from_db()
    bot.refresh_from_db()
    assert item.decision == "not_reviewed" and not item.in_open_campaign
    # Overdue for the sweep's review_overdue rule and the inventory filter (due < today).
    assert bot.next_review_due == timezone.localdate() - timedelta(days=1)
    with pytest.raises(IllegalTransition):
        close_campaign(iam, campaign)
    with pytest.raises(IllegalTransition):
        sign_off(iam, second)


@pytest.mark.django_db
def test_high_tier_certification_waits_for_iam_signoff(owner, iam, iam2):
    high = IdentityFactory(owner=owner, name="prod-agent", risk_tier="high")
    item = campaign_over(iam, high)[high.pk]
    decide(owner, item, "certify", "still needed")
    high.refresh_from_db()
    item.refresh_from_db()
    assert item.signoff_state == "pending" and high.last_reviewed_at is None

    sign_off(iam, item)

    item.refresh_from_db()
    high.refresh_from_db()
    assert item.signoff_state == "signed" and item.signoff_by == iam
    assert high.last_reviewed_at is not None
    assert high.next_review_due == (timezone.now() + timedelta(days=90)).date()
    with pytest.raises(IllegalTransition):
        sign_off(iam2, item)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "identity_owner,tier,decider,signer",
    [
        # iam2 owns the identity: as an IAM approver they could sign off others, never their own.
        pytest.param("iam2", "critical", "iam", "iam2", id="iam-owner-of-the-identity"),
        pytest.param(None, "high", "iam", "iam", id="the-decider"),
        # Only IAM signs off.
        pytest.param("owner2", "high", "owner2", "owner", id="owner"),
        pytest.param("owner2", "high", "owner2", "security", id="security"),
        pytest.param("owner2", "high", "owner2", "auditor", id="auditor"),
    ],
)
def test_sign_off_is_refused(role_users, iam, identity_owner, tier, decider, signer):
    owner = role_users[identity_owner] if identity_owner else None
    high = IdentityFactory(owner=owner, name="agent", risk_tier=tier)
    item = campaign_over(iam, high)[high.pk]
    decide(role_users[decider], item, "certify", "still needed")
    with pytest.raises(NotAllowed):
        sign_off(role_users[signer], item)


@pytest.mark.django_db
def test_bulk_certify_takes_only_displayed_low_tier_items(owner, iam):
    lows = [IdentityFactory(owner=owner, name=f"low-{n}") for n in range(3)]
    high = IdentityFactory(owner=owner, name="high", risk_tier="high")
    items = campaign_over(iam, *lows, high)
    low_items = [items[i.pk] for i in lows]

    with pytest.raises(ValidationError) as caught:
        bulk_certify(owner, [i.pk for i in low_items])
    assert "never displayed" in str(caught.value)
    record_shown(owner, low_items[:2] + [items[high.pk]])
    with pytest.raises(ValidationError) as caught:
        bulk_certify(owner, [low_items[0].pk, items[high.pk].pk])
    assert "high tier" in str(caught.value)
    assert not ReviewItem.objects.exclude(decision="pending").exists()

    done = bulk_certify(owner, [i.pk for i in low_items[:2]], "all still in use")

    assert {i.decision for i in done} == {"certify"}
    assert AuditEvent.objects.filter(verb="review.certify").count() == 2
    assert Identity.objects.filter(last_reviewed_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_time_shown_before_deciding_is_recorded(owner, item):
    record_shown(owner, [item])
    ReviewItem.objects.filter(pk=item.pk).update(last_shown_at=timezone.now() - timedelta(seconds=42))
    decided = decide(owner, item, "certify", "", shown_seconds=600)
    assert 42 <= decided.display_seconds <= 44  # the shorter of measured and reported
    assert AuditEvent.objects.get(verb="review.certify").after["display_seconds"] == decided.display_seconds


@pytest.mark.django_db
def test_reassign_to_backup_owner_or_iam_only(iam, owner, owner2, item, bot, auditor):
    with pytest.raises(NotAllowed):
        reassign(owner, item, owner2)
    with pytest.raises(ValidationError):
        reassign(iam, item, owner2)  # neither an owner of the identity nor IAM
    with pytest.raises(ValidationError):
        reassign(iam, item, auditor)
    Identity.objects.filter(pk=bot.pk).update(backup_owner=owner2)
    moved = reassign(iam, item, "owner2", "owner on leave")
    assert moved.reviewer == owner2 and moved.reviewer_source == "reassigned"
    assert AuditEvent.objects.get(verb="review.reassigned").before == {"reviewer": "owner"}


@pytest.mark.django_db
def test_reminders_go_to_reviewers_with_open_items_once_a_day(
    iam, owner, owner2, bot, django_capture_on_commit_callbacks
):
    IdentityFactory(owner=owner2, name="second")
    campaign = campaign_over(iam)
    with django_capture_on_commit_callbacks(execute=True):
        first = send_reminders(iam, campaign)
    assert first["sent"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["owner2@example.com", "owner@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        again = send_reminders(iam, campaign)
    assert again["sent"] == 0 and len(mail.outbox) == 2
    assert ReviewReminder.objects.count() == 2
    assert AuditEvent.objects.filter(verb="review.reminders_sent").count() == 2


@pytest.mark.django_db
def test_an_item_left_open_at_close_opens_a_review_overdue_finding(owner, iam, bot, item):
    from governance.findings.models import Finding
    from governance.findings.sweep import run_sweep

    run_sweep()
    assert not Finding.objects.filter(identity=bot, rule="review_overdue").exists()

    close_campaign(iam, item.campaign)
    run_sweep()  # the hourly sweep after the close

    finding = Finding.objects.get(identity=bot, rule="review_overdue", status="open")
    assert finding.evidence["next_review_due"] == (timezone.localdate() - timedelta(days=1)).isoformat()
    # A certification in the next campaign resolves it.
    again = campaign_over(iam, bot)[bot.pk]
    decide(owner, again, "certify", "still used")
    run_sweep()
    finding.refresh_from_db()
    assert finding.status == "resolved"
