# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""Expiry ends time-bound grants; the posture snapshot is one idempotent row per day."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.audit import verify_chain
from governance.dashboard.snapshot import take_snapshot
from governance.findings.models import Finding
from governance.jobs.expiry import run_expiry
from governance.jobs.models import PostureSnapshot
from governance.models import AuditEvent
from inventory.expiry import expire_grants
from inventory.models import Grant
from tests.factories import GrantFactory, IdentityFactory, UserFactory
from tests.governance.jobs_support import START, clock, hooks  # noqa: F401

pytestmark = pytest.mark.django_db


def test_expiry_ends_grants_whose_expiry_passed_and_audits_each_as_system_expiry(clock, owner):
    identity = IdentityFactory(owner=owner, name="jit-agent")
    due = GrantFactory(
        identity=identity, resource_name="org/api", expires_at=timezone.now() + timedelta(hours=1)
    )
    later = GrantFactory(identity=identity, expires_at=timezone.now() + timedelta(days=3))
    forever = GrantFactory(identity=identity, expires_at=None)
    clock.shift(timedelta(hours=2))
    assert run_expiry(timezone.now())["grants"] == 1
    due.refresh_from_db()
    assert due.ended_at == timezone.now() and due.end_reason == "expired"
    assert Grant.objects.filter(pk__in=[later.pk, forever.pk], ended_at__isnull=True).count() == 2
    event = AuditEvent.objects.get(verb="grant.expired")
    assert event.actor == "system:expiry" and event.subject_id == str(due.pk)
    assert event.subject_label == "jit-agent: repository:org/api"
    assert event.after["end_reason"] == "expired"
    assert verify_chain().ok


def test_expiry_is_idempotent(clock, owner):
    GrantFactory(identity=IdentityFactory(owner=owner), expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_grants(timezone.now()) == 1
    clock.shift(timedelta(hours=1))
    assert expire_grants(timezone.now()) == 0
    assert AuditEvent.objects.filter(verb="grant.expired").count() == 1


def test_expiry_leaves_already_ended_grants_alone(clock, owner):
    grant = GrantFactory(
        identity=IdentityFactory(owner=owner),
        expires_at=timezone.now() - timedelta(days=1),
        ended_at=timezone.now() - timedelta(days=2),
        end_reason="revoked in review",
    )
    expire_grants(timezone.now())
    grant.refresh_from_db()
    assert grant.end_reason == "revoked in review"


def test_expiry_runs_expirers_other_features_register(clock, hooks):
    hooks.register_expirer("exceptions", lambda now: 3)
    assert run_expiry(timezone.now()) == {"grants": 0, "exceptions": 3}


def test_expiry_query_count_does_not_grow_with_the_number_of_grants(owner):
    identity = IdentityFactory(owner=owner)
    GrantFactory(identity=identity, expires_at=timezone.now() - timedelta(minutes=1))
    expire_grants(timezone.now())  # the first run ever creates the lock and audit-head rows
    counts = []
    for n in (3, 40):
        GrantFactory.create_batch(n, identity=identity, expires_at=timezone.now() - timedelta(minutes=1))
        with CaptureQueriesContext(connection) as ctx:
            assert expire_grants(timezone.now()) == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_snapshot_records_the_days_figures(clock, owner):
    leaver = UserFactory(username="leaver", is_active=False)
    a = IdentityFactory(owner=owner, risk_tier="high", kind="ai_agent")
    IdentityFactory(owner=leaver, status="suspended")
    IdentityFactory(owner=owner, status="decommissioned")
    Finding.objects.create(rule="stale_unused", identity=a, severity="high")
    Finding.objects.create(rule="review_overdue", identity=a, severity="medium", status="resolved")
    take_snapshot(timezone.now())
    figures = PostureSnapshot.objects.get(date=START.date()).figures
    assert figures["identities_by_status"] == {"active": 1, "suspended": 1, "decommissioned": 1}
    assert figures["identities_by_tier"] == {"high": 1, "low": 1}
    assert figures["identities_by_kind"] == {"ai_agent": 1, "ai_assistant": 1}
    assert figures["live_identities"] == 2 and figures["share_with_active_owner"] == 0.5
    assert figures["open_findings_by_rule"] == {"stale_unused": 1}
    assert figures["open_findings_by_severity"] == {"high": 1}
    assert figures["stale"] == 1


def test_snapshot_is_idempotent_one_row_per_day(clock, owner):
    take_snapshot(timezone.now())
    IdentityFactory(owner=owner)
    clock.shift(timedelta(hours=5))
    again = take_snapshot(timezone.now())
    assert again["created"] is False
    assert PostureSnapshot.objects.count() == 1
    assert PostureSnapshot.objects.get().figures["live_identities"] == 1  # refreshed, not duplicated
    clock.shift(timedelta(days=1))
    take_snapshot(timezone.now())
    assert list(PostureSnapshot.objects.order_by("date").values_list("date", flat=True)) == [
        START.date(),
        START.date() + timedelta(days=1),
    ]
