"""Migrations 0022 and 0023 on existing rows: review remediations 'open' become 'pending' with their
confirmer named; findings get a due date, an owner and a resolution (issue 19 items 9 and 11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("governance", "0021_decision_aggregate_bucket_unique")]
AFTER = [("governance", "0023_finding_sla_owner_resolution")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest():
    """Leave the schema as every other test expects it: every app at its latest migration."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_remediations_and_findings_are_carried_forward(back_to_latest):
    old = _migrate(BEFORE)
    User = old.get_model("governance", "User")
    Identity = old.get_model("inventory", "Identity")
    Campaign = old.get_model("governance", "ReviewCampaign")
    Item = old.get_model("governance", "ReviewItem")
    Finding = old.get_model("governance", "Finding")
    now = timezone.now()
    owner = User.objects.create(username="legacy-owner")
    iam = User.objects.create(username="legacy-iam")
    bot = Identity.objects.create(name="legacy-bot", kind="bot", owner=owner, status="active")
    campaign = Campaign.objects.create(name="Old", due_at=now + timedelta(days=3), created_by_label="iam")
    common = {
        "campaign": campaign,
        "identity": bot,
        "risk_tier": "low",
        "snapshot": {},
        "reviewer_source": "owner",
    }
    waiting = Item.objects.create(**common, decision="revoke", decided_at=now, remediation_state="open")
    other = Identity.objects.create(name="legacy-two", kind="bot", owner=owner, status="active")
    done = Item.objects.create(
        **{**common, "identity": other, "in_open_campaign": False},
        decision="revoke",
        decided_at=now,
        remediation_state="confirmed",
        remediation_confirmed_by=iam,
        remediation_confirmed_at=now,
    )
    open_finding = Finding.objects.create(
        rule="stale_unused", identity=bot, severity="high", first_seen_at=now
    )
    fixed = Finding.objects.create(
        rule="stale_unused",
        identity=other,
        severity="low",
        status="resolved",
        first_seen_at=now,
        resolved_at=now,
    )

    new = _migrate(AFTER)
    Item = new.get_model("governance", "ReviewItem")
    Finding = new.get_model("governance", "Finding")
    waiting = Item.objects.get(pk=waiting.pk)
    assert waiting.remediation_state == "pending" and waiting.remediation_action_at == now
    assert Item.objects.get(pk=done.pk).remediation_confirmed_by_label == "legacy-iam"
    migrated = Finding.objects.get(pk=open_finding.pk)
    assert migrated.due_at == now + timedelta(days=30) and migrated.owner_id == owner.pk
    assert migrated.resolution == ""
    resolved = Finding.objects.get(pk=fixed.pk)
    assert resolved.resolution == "fixed" and resolved.due_at == now + timedelta(days=180)
    assert resolved.owner_id is None
