"""The reviews' reminder source for the daily reminders job (runs once the jobs feature is merged)."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from governance.reviews.services import decide, launch_campaign
from tests.factories import IdentityFactory

pytestmark = pytest.mark.skipif(
    "reminder" not in apps.all_models["governance"], reason="the scheduled-jobs feature is not in this build"
)


@pytest.mark.django_db
def test_reviewers_hear_about_open_items_and_iam_about_orphans_and_signoffs(iam, owner, owner2):
    from governance.reviews.reminders import due_items

    IdentityFactory(owner=owner, name="a")
    IdentityFactory(owner=None, name="orphan")
    high = IdentityFactory(owner=owner2, name="h", risk_tier="high")
    campaign = launch_campaign(iam, "Q", {}, timezone.now() + timedelta(days=3))
    decide(owner2, campaign.items.get(identity=high), "certify", "checked its grants")
    notices = list(due_items(timezone.now()))
    by_subject = {(n.subject_id, n.recipient_id): n for n in notices}
    assert by_subject[(f"{campaign.pk}:{owner.pk}", owner.pk)].kind == "due_soon"
    assert (f"{campaign.pk}:{iam.pk}", iam.pk) in by_subject  # the orphan went to iam as reviewer
    assert by_subject[(f"{campaign.pk}:signoff", iam.pk)].section == "Reviews"
    late = list(due_items(timezone.now() + timedelta(days=5)))
    assert {n.kind for n in late if n.subject_id.endswith(f":{owner.pk}")} == {"overdue"}
    assert all(n.escalate for n in late if n.kind == "overdue")
