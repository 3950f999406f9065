# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""Each rule opens a finding when its condition appears and resolves it when the condition clears."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.findings.models import Finding, Rule, Severity
from inventory.models import Credential, Identity, UsageEvent
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory, UserFactory
from tests.governance.jobs_support import clock, hooks, only_finding, sweep, unresolved  # noqa: F401

pytestmark = pytest.mark.django_db


def resolved(finding: Finding) -> Finding:
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_at == timezone.now()
    return finding


def test_stale_unused_opens_after_the_tier_period_and_resolves_on_use(clock, owner):
    identity = IdentityFactory(owner=owner, risk_tier="low", last_used_at=timezone.now())
    clock.shift(timedelta(days=89))
    sweep()
    assert not unresolved(Rule.STALE_UNUSED).exists()
    clock.shift(timedelta(days=2))  # low tier: stale after 90 days
    sweep()
    finding = only_finding(Rule.STALE_UNUSED, identity)
    assert finding.severity == Severity.MEDIUM
    assert finding.evidence["idle_days"] == 91 and finding.evidence["stale_days"] == 90
    Identity.objects.filter(pk=identity.pk).update(last_used_at=timezone.now())
    clock.shift(timedelta(hours=1))
    sweep()
    resolved(finding)


def test_stale_unused_counts_never_used_since_approval_and_uses_the_high_tier_period(clock, owner):
    identity = IdentityFactory(owner=owner, risk_tier="high", last_used_at=None)
    clock.shift(timedelta(days=46))  # high tier: stale after 45 days
    sweep()
    finding = only_finding(Rule.STALE_UNUSED, identity)
    assert finding.severity == Severity.HIGH
    assert finding.evidence["last_used_at"] is None
    assert "Never used" in finding.evidence["summary"]


def test_credential_rotation_overdue_opens_and_resolves_when_rotated(clock, owner):
    identity = IdentityFactory(owner=owner, risk_tier="medium")
    credential = CredentialFactory(
        identity=identity, kind="static_key", expires_at=timezone.now() + timedelta(days=900)
    )
    CredentialFactory(identity=identity, kind="oidc_federation", issued_at=None)  # federated: never "overdue"
    clock.shift(timedelta(days=181))  # medium tier: rotate every 180 days
    sweep()
    finding = only_finding(Rule.CREDENTIAL_ROTATION_OVERDUE, identity)
    assert [c["id"] for c in finding.evidence["credentials"]] == [credential.pk]
    Credential.objects.filter(pk=credential.pk).update(last_rotated_at=timezone.now())
    sweep()
    resolved(finding)


def test_credential_rotation_overdue_resolves_when_the_credential_is_revoked(clock, owner):
    identity = IdentityFactory(owner=owner)
    credential = CredentialFactory(identity=identity, kind="pat", issued_at=None, last_rotated_at=None)
    sweep()  # no known rotation date counts as overdue
    finding = only_finding(Rule.CREDENTIAL_ROTATION_OVERDUE, identity)
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    sweep()
    resolved(finding)


def test_credential_no_expiry_opens_for_static_kinds_and_resolves_when_an_expiry_is_set(clock, owner):
    identity = IdentityFactory(owner=owner, risk_tier="high")
    credential = CredentialFactory(identity=identity, kind="static_key", expires_at=None)
    CredentialFactory(identity=IdentityFactory(owner=owner), kind="spiffe_svid", expires_at=None)
    sweep()
    finding = only_finding(Rule.CREDENTIAL_NO_EXPIRY, identity)
    assert finding.severity == Severity.MEDIUM  # raised for high/critical tiers
    assert unresolved(Rule.CREDENTIAL_NO_EXPIRY).count() == 1  # federated kinds are exempt
    Credential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() + timedelta(days=30))
    sweep()
    resolved(finding)


def test_orphaned_owner_is_high_for_an_inactive_owner_and_low_for_an_inactive_backup(clock, owner):
    gone = UserFactory(username="leaver")
    backup_gone = UserFactory(username="backup-leaver")
    no_owner = IdentityFactory(owner=gone)
    weak_backup = IdentityFactory(owner=owner, backup_owner=backup_gone)
    gone.is_active = False
    gone.save()
    backup_gone.is_active = False
    backup_gone.save()
    sweep()
    high = only_finding(Rule.ORPHANED_OWNER, no_owner)
    low = only_finding(Rule.ORPHANED_OWNER, weak_backup)
    assert (high.severity, low.severity) == (Severity.HIGH, Severity.LOW)
    assert high.evidence["owner"] == "leaver"
    Identity.objects.filter(pk=no_owner.pk).update(owner=owner)
    Identity.objects.filter(pk=weak_backup.pk).update(backup_owner=None)
    sweep()
    resolved(high)
    resolved(low)


def test_orphaned_owner_for_a_missing_owner(clock):
    identity = IdentityFactory(owner=None, team=None, status=Identity.Status.SUSPENDED)
    sweep()
    assert only_finding(Rule.ORPHANED_OWNER, identity).evidence["summary"] == "No owner"


def test_review_overdue_opens_the_day_after_the_due_date_and_resolves_after_review(clock, owner):
    identity = IdentityFactory(owner=owner, next_review_due=timezone.localdate() + timedelta(days=1))
    clock.shift(timedelta(days=1))
    sweep()
    assert not unresolved(Rule.REVIEW_OVERDUE).exists()  # due today is not overdue yet
    clock.shift(timedelta(days=1))
    sweep()
    finding = only_finding(Rule.REVIEW_OVERDUE, identity)
    assert finding.evidence["days_overdue"] == 1
    Identity.objects.filter(pk=identity.pk).update(next_review_due=timezone.localdate() + timedelta(days=365))
    sweep()
    resolved(finding)


def test_exception_expired_takes_hits_from_the_exceptions_feature(clock, owner, hooks):
    identity = IdentityFactory(owner=owner)
    expired = {identity.pk}
    hooks.register_finding_source(
        "exception_expired",
        "test",
        lambda now: [(pk, "high", {"summary": "exception 7 expired"}) for pk in expired],
    )
    sweep()
    finding = only_finding(Rule.EXCEPTION_EXPIRED, identity)
    assert finding.severity == "high" and finding.evidence["summary"] == "exception 7 expired"
    expired.clear()
    sweep()
    resolved(finding)


def test_environment_crossing_opens_for_prod_plus_non_prod_and_resolves_when_split(clock, owner):
    identity = IdentityFactory(owner=owner, environments=["prod", "staging"])
    IdentityFactory(owner=owner, environments=["prod"])
    sweep()
    finding = only_finding(Rule.ENVIRONMENT_CROSSING, identity)
    assert unresolved(Rule.ENVIRONMENT_CROSSING).count() == 1
    assert finding.evidence["environments"] == ["prod", "staging"]
    Identity.objects.filter(pk=identity.pk).update(environments=["staging"])
    sweep()
    resolved(finding)


def test_denied_grant_opens_for_a_grant_the_policy_denies_and_resolves_when_it_ends(clock, owner):
    identity = IdentityFactory(owner=owner, kind="ai_assistant", environments=["prod"])
    grant = GrantFactory(identity=identity, resource_kind="secret_store", actions=["read_secrets"])
    GrantFactory(
        identity=IdentityFactory(owner=owner, kind="ai_assistant", environments=["dev"]),
        actions=["read_secrets"],
    )
    GrantFactory(
        identity=IdentityFactory(owner=owner, kind="service_account", environments=["prod"]),
        actions=["read_secrets"],
    )
    sweep()
    finding = only_finding(Rule.DENIED_GRANT, identity)
    assert unresolved(Rule.DENIED_GRANT).count() == 1
    assert finding.evidence["deny_rules"] == ["assistant_prod_secrets"]
    assert finding.evidence["grants"][0]["id"] == grant.pk
    grant.ended_at = timezone.now()
    grant.save()
    sweep()
    resolved(finding)


def test_denied_grant_clears_when_a_time_bound_grant_has_passed_its_expiry(clock, owner):
    identity = IdentityFactory(owner=owner, kind="ai_agent", environments=["prod"])
    GrantFactory(identity=identity, actions=["admin"], expires_at=timezone.now() + timedelta(hours=2))
    sweep()
    finding = only_finding(Rule.DENIED_GRANT, identity)
    clock.shift(timedelta(hours=3))
    sweep()
    resolved(finding)


def test_unapproved_vendor_opens_for_ai_kinds_and_named_vendors_only(clock, owner):
    shady = IdentityFactory(owner=owner, kind="ai_agent", vendor="Shady AI Labs")
    IdentityFactory(owner=owner, kind="service_account", vendor="")  # built in-house: not flagged
    IdentityFactory(owner=owner, kind="bot", vendor="anthropic")  # allowed list is case-insensitive
    unnamed_ai = IdentityFactory(owner=owner, kind="ai_assistant", vendor="")
    sweep()
    assert set(unresolved(Rule.UNAPPROVED_VENDOR).values_list("identity_id", flat=True)) == {
        shady.pk,
        unnamed_ai.pk,
    }
    finding = only_finding(Rule.UNAPPROVED_VENDOR, shady)
    assert "Shady AI Labs" in finding.evidence["summary"]
    Identity.objects.filter(pk=shady.pk).update(vendor="Anthropic")
    sweep()
    resolved(finding)


def _usage(identity, **flags):
    return UsageEvent.objects.create(
        identity=identity, at=timezone.now(), action="read_code", identity_status=identity.status, **flags
    )


def test_used_after_revocation_is_critical_and_resolves_after_a_quiet_month(clock, owner):
    identity = IdentityFactory(owner=owner, status=Identity.Status.SUSPENDED)
    _usage(identity, after_revocation=True)
    _usage(identity, after_revocation=True)
    sweep()
    finding = only_finding(Rule.USED_AFTER_REVOCATION, identity)
    assert finding.severity == Severity.CRITICAL and finding.evidence["events"] == 2
    clock.shift(timedelta(days=31))
    sweep()
    resolved(finding)


def test_out_of_scope_use_reads_the_usage_flag(clock, owner):
    identity = IdentityFactory(owner=owner)
    _usage(identity)  # an in-scope use opens nothing
    sweep()
    assert not unresolved(Rule.OUT_OF_SCOPE_USE).exists()
    _usage(identity, out_of_scope=True)
    sweep()
    finding = only_finding(Rule.OUT_OF_SCOPE_USE, identity)
    assert finding.severity == Severity.LOW  # read-only use by a low-tier identity (see test_ownership_drift)
    clock.shift(timedelta(days=31))
    sweep()
    resolved(finding)


def test_decommissioning_resolves_the_identitys_findings(clock, owner):
    identity = IdentityFactory(owner=owner, environments=["prod", "dev"], vendor="Unknown Co")
    sweep()
    # environment_crossing, unapproved_vendor, and agent_threat_uncontrolled (its ASI04 supply chain gap)
    assert unresolved(identity=identity).count() == 3
    Identity.objects.filter(pk=identity.pk).update(status=Identity.Status.DECOMMISSIONED)
    sweep()
    assert unresolved(identity=identity).count() == 0
    assert Finding.objects.filter(identity=identity, status="resolved").count() == 3
