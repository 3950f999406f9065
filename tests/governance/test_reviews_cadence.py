"""The daily review job: campaigns open on each tier's cadence, close when finished, due dates kept."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.services import close_campaign, decide, launch_campaign, run_cadence, sign_off
from inventory.models import Identity
from tests.factories import IdentityFactory

START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def estate(owner):
    with time_machine.travel(START, tick=False):
        return {
            "high": IdentityFactory(owner=owner, name="high-bot", risk_tier="high", approved_at=START),
            "low": IdentityFactory(owner=owner, name="low-bot", risk_tier="low", approved_at=START),
            "medium_reviewed": IdentityFactory(
                owner=owner,
                name="medium-bot",
                risk_tier="medium",
                approved_at=START - timedelta(days=400),
                last_reviewed_at=START - timedelta(days=10),
            ),
            "gone": IdentityFactory(
                owner=owner, name="gone", risk_tier="high", status="decommissioned", approved_at=START
            ),
        }


def names(campaign):
    return sorted(campaign.items.values_list("identity__name", flat=True))


@pytest.mark.django_db
def test_nothing_is_due_before_the_first_period_has_passed(estate):
    with time_machine.travel(START + timedelta(days=89), tick=False):
        result = run_cadence(timezone.now())
    assert result["launched"] == [] and not ReviewCampaign.objects.exists()


@pytest.mark.django_db
def test_cadence_opens_one_campaign_per_due_tier_with_the_right_identities(estate):
    with time_machine.travel(START + timedelta(days=91), tick=False):
        result = run_cadence(timezone.now())
    campaign = ReviewCampaign.objects.get()
    assert result["launched"] == [campaign.pk]
    assert campaign.origin == "cadence" and campaign.scope["risk_tiers"] == ["high"]
    assert names(campaign) == ["high-bot"]  # the decommissioned one is never reviewed
    assert campaign.due_at == START + timedelta(days=91 + 30)

    with time_machine.travel(START + timedelta(days=200), tick=False):
        run_cadence(timezone.now())
    medium = ReviewCampaign.objects.get(scope__risk_tiers=["medium"])
    assert names(medium) == ["medium-bot"]  # last reviewed 10 days before START + 180 days
    assert not ReviewCampaign.objects.filter(scope__risk_tiers=["low"]).exists()

    with time_machine.travel(START + timedelta(days=366), tick=False):
        run_cadence(timezone.now())
    assert names(ReviewCampaign.objects.get(scope__risk_tiers=["low"])) == ["low-bot"]


@pytest.mark.django_db
def test_rerunning_the_job_opens_nothing_twice(estate):
    with time_machine.travel(START + timedelta(days=100), tick=False):
        run_cadence(timezone.now())
        run_cadence(timezone.now())
    with time_machine.travel(START + timedelta(days=101), tick=False):
        second_day = run_cadence(timezone.now())
    assert second_day["launched"] == []
    assert ReviewItem.objects.filter(identity=estate["high"]).count() == 1


@pytest.mark.django_db
def test_identities_in_an_open_campaign_are_not_taken_again(estate, iam):
    with time_machine.travel(START + timedelta(days=50), tick=False):
        launch_campaign(iam, "manual", {"risk_tiers": ["high"]}, "2025-12-31")
    with time_machine.travel(START + timedelta(days=95), tick=False):
        assert run_cadence(timezone.now())["launched"] == []


@pytest.mark.django_db
def test_a_certified_identity_is_next_due_one_period_after_its_review(estate, owner, iam):
    with time_machine.travel(START + timedelta(days=91), tick=False):
        run_cadence(timezone.now())
        item = ReviewItem.objects.get()
        decide(owner, item, "certify", "still needed")
        sign_off(iam, item)
    with time_machine.travel(START + timedelta(days=91 + 31), tick=False):
        result = run_cadence(timezone.now())
        assert result["closed"] == [item.campaign_id]  # past due, every item decided and signed off
    high_items = ReviewItem.objects.filter(identity=estate["high"])
    with time_machine.travel(START + timedelta(days=91 + 89), tick=False):
        run_cadence(timezone.now())
    assert high_items.count() == 1
    with time_machine.travel(START + timedelta(days=91 + 91), tick=False):
        run_cadence(timezone.now())
    assert high_items.count() == 2


@pytest.mark.django_db
def test_campaigns_with_open_items_stay_open_past_due(estate):
    with time_machine.travel(START + timedelta(days=91), tick=False):
        run_cadence(timezone.now())
    with time_machine.travel(START + timedelta(days=150), tick=False):
        assert run_cadence(timezone.now())["closed"] == []
    assert ReviewCampaign.objects.get().state == "open"


@pytest.mark.django_db
def test_next_review_due_is_set_from_approval_or_last_review(estate, iam):
    with time_machine.travel(START + timedelta(days=1), tick=False):
        run_cadence(timezone.now())
    due = dict(Identity.objects.values_list("name", "next_review_due"))
    assert due["high-bot"] == date(2025, 4, 1)  # approved 2025-01-01 + 90 days
    assert due["low-bot"] == date(2026, 1, 1)
    assert due["medium-bot"] == (START - timedelta(days=10) + timedelta(days=180)).date()
    assert due["gone"] is None


@pytest.mark.django_db
def test_a_campaign_closed_without_review_keeps_the_identity_due(estate, iam):
    with time_machine.travel(START + timedelta(days=91), tick=False):
        run_cadence(timezone.now())
        close_campaign(iam, ReviewCampaign.objects.get())
        today = timezone.localdate()
    with time_machine.travel(START + timedelta(days=92), tick=False):
        run_cadence(timezone.now())  # reopens a campaign for it and keeps the date
    high = Identity.objects.get(name="high-bot")
    # Still due (never pushed later without a review): the day it first fell due, before the close.
    assert high.next_review_due == date(2025, 4, 1) < today
    assert ReviewItem.objects.filter(identity=high, in_open_campaign=True).count() == 1
