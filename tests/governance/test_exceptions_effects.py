# ruff: noqa: F811  (pytest fixtures imported from support modules)
"""What an active exception changes: suppressed findings, Cedar decisions, reminders and expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.decisions import services as decisions
from governance.exceptions import services
from governance.exceptions.models import PolicyException
from governance.findings.models import Finding
from governance.jobs import registry
from governance.jobs.expiry import run_expiry
from governance.jobs.models import Reminder
from governance.jobs.reminders import run_reminders
from governance.models import AuditEvent
from governance.people.models import Role
from tests.decisions.conftest import agent, clear_caches, question  # noqa: F401
from tests.factories import UserFactory
from tests.governance.exceptions_support import RULE, old_key_identity, request
from tests.governance.jobs_support import clock, only_finding, sweep  # noqa: F401

pytestmark = pytest.mark.django_db
Status = Finding.Status


def active_exception(owner, security, identity=None, days=30, rule=RULE):
    identity = identity or old_key_identity(owner)
    return services.approve(security, request(owner, identity, days=days, rule=rule))


def test_hooks_are_registered_with_the_job_registry():
    assert "exceptions" in dict(registry.expirers())
    assert "exceptions" in dict(registry.suppression_sources())
    assert "exceptions" in dict(registry.reminder_sources())
    assert "exceptions" in dict(registry.finding_sources("exception_expired"))


def test_active_exception_suppresses_the_finding_and_expiry_reopens_it(clock, owner, security):
    identity = old_key_identity(owner)
    sweep()
    assert only_finding(RULE, identity).status == Status.OPEN

    active_exception(owner, security, identity, days=10)
    sweep()
    assert only_finding(RULE, identity).status == Status.SUPPRESSED

    clock.shift(timedelta(days=11))
    run_expiry(timezone.now())
    sweep()
    finding = only_finding(RULE, identity)
    assert finding.status == Status.OPEN
    assert PolicyException.objects.get().state == PolicyException.State.EXPIRED
    # The expiry is itself a finding while the departure remains.
    assert only_finding("exception_expired", identity).evidence["rule"] == RULE


def test_at_expiry_the_suppression_ends_at_once_without_waiting_for_the_sweep(clock, owner, security):
    identity = old_key_identity(owner)
    exc = active_exception(owner, security, identity, days=10)
    sweep()
    finding = only_finding(RULE, identity)
    assert finding.status == Status.SUPPRESSED

    clock.shift(timedelta(days=9))
    run_expiry(timezone.now())  # not due yet: nothing changes
    finding.refresh_from_db()
    assert finding.status == Status.SUPPRESSED

    clock.shift(timedelta(days=2))
    run_expiry(timezone.now())  # no sweep in between
    finding.refresh_from_db()
    assert finding.status == Status.OPEN
    event = AuditEvent.objects.get(verb="finding.unsuppressed", subject_id=str(finding.pk))
    assert event.actor == "system:expiry" and "expiry" in event.reason
    run_expiry(timezone.now())  # a rerun changes nothing and audits nothing twice
    assert AuditEvent.objects.filter(verb="finding.unsuppressed").count() == 1
    sweep()  # the sweep agrees: open, and the expiry itself is now a finding
    assert only_finding(RULE, identity).status == Status.OPEN
    assert only_finding("exception_expired", identity).evidence["exception"] == exc.pk


def test_expiry_keeps_the_suppression_while_a_renewal_still_covers_it(clock, owner, security):
    identity = old_key_identity(owner)
    first = active_exception(owner, security, identity, days=5)
    sweep()
    # Two exceptions for one rule only exist when written directly; the rule still holds: any active
    # one keeps the finding suppressed.
    PolicyException.objects.create(
        identity=identity,
        rule=RULE,
        justification="overlap",
        expires_at=timezone.now() + timedelta(days=30),
        requested_by=owner,
        state=PolicyException.State.ACTIVE,
        renewal_of=first,
    )
    clock.shift(timedelta(days=6))
    run_expiry(timezone.now())
    assert only_finding(RULE, identity).status == Status.SUPPRESSED


def test_a_new_finding_is_suppressed_from_the_start(owner, security):
    identity = old_key_identity(owner)
    active_exception(owner, security, identity)
    sweep()
    assert only_finding(RULE, identity).status == Status.SUPPRESSED


def test_revoking_ends_the_suppression_at_once(owner, security):
    identity = old_key_identity(owner)
    exc = active_exception(owner, security, identity)
    sweep()
    assert only_finding(RULE, identity).status == Status.SUPPRESSED
    services.revoke_exception(security, exc, "Key leaked")
    assert only_finding(RULE, identity).status == Status.OPEN  # before any sweep
    assert AuditEvent.objects.get(verb="finding.unsuppressed").actor == "security"
    sweep()
    assert only_finding(RULE, identity).status == Status.OPEN


def test_exception_for_another_rule_suppresses_nothing(owner, security):
    identity = old_key_identity(owner)
    active_exception(owner, security, identity, rule="stale_unused")
    sweep()
    assert only_finding(RULE, identity).status == Status.OPEN


def test_exception_lets_a_decision_through_that_a_cedar_rule_forbids(agent, owner, security):
    clear_caches()
    ask = decisions.parse(question(agent, action="merge", environment="prod"))[0][0]
    assert decisions.decide(owner, [ask], record=False)[0].verdict.decision == "step_up"

    exc = services.approve(security, request(owner, agent, days=20, rule="prod_privileged_needs_jit"))
    verdict = decisions.decide(owner, [ask], record=False)[0].verdict
    assert verdict.decision == "allow"
    assert str(exc.pk) in verdict.exceptions
    assert any(f"Exception #{exc.pk}" in reason for reason in verdict.reasons)

    services.revoke_exception(security, exc, "Migration finished")
    assert decisions.decide(owner, [ask], record=False)[0].verdict.decision == "step_up"


def test_an_exception_past_expiry_lifts_nothing_even_before_the_job(agent, owner, security):
    ask = decisions.parse(question(agent, action="merge", environment="prod"))[0][0]
    services.approve(security, request(owner, agent, days=5, rule="prod_privileged_needs_jit"))
    later = timezone.now() + timedelta(days=6)
    assert decisions.decide(owner, [ask], record=False, now=later)[0].verdict.decision == "step_up"


def _exception_reminders(owner):
    return Reminder.objects.filter(recipient=owner, subject_type="governance.policyexception")


def test_owner_is_reminded_at_14_and_3_days_once_each(clock, owner, security):
    backup = UserFactory(username="backup", roles=[Role.OWNER])
    identity = old_key_identity(owner, backup_owner=backup)
    active_exception(owner, security, identity, days=20)
    run_reminders(timezone.now())
    assert not _exception_reminders(owner).exists()

    clock.shift(timedelta(days=7))  # 13 days left
    run_reminders(timezone.now())
    clock.shift(timedelta(days=1))
    run_reminders(timezone.now())
    assert list(_exception_reminders(owner).values_list("kind", flat=True)) == ["due_soon"]
    assert _exception_reminders(backup).count() == 1

    clock.shift(timedelta(days=10))  # 2 days left
    run_reminders(timezone.now())
    run_reminders(timezone.now())
    tags = sorted(s.split(":")[1] for s in _exception_reminders(owner).values_list("subject_id", flat=True))
    assert tags == ["14d", "3d"]


def test_owner_gets_exactly_one_expiry_notice_even_if_jobs_run_twice(clock, owner, security):
    identity = old_key_identity(owner)
    exc = active_exception(owner, security, identity, days=2)
    clock.shift(timedelta(days=3))
    for _ in range(2):
        run_expiry(timezone.now())
        run_reminders(timezone.now())
    clock.shift(timedelta(days=1))  # and again the next day
    run_expiry(timezone.now())
    run_reminders(timezone.now())
    notices = _exception_reminders(owner).filter(subject_id=f"{exc.pk}:expired")
    assert notices.count() == 1
    assert notices.get().kind == Reminder.Kind.OVERDUE


def test_dashboard_queue_counts_exceptions_expiring_within_14_days_and_links_to_them(client, owner, security):
    active_exception(owner, security, days=10)
    active_exception(owner, security, days=60, rule="credential_no_expiry")
    client.force_login(security)
    body = client.get("/dashboard/card/queue/", HTTP_HX_REQUEST="true").content.decode()
    assert 'href="/exceptions/?expiring_within=14" data-testid="exceptions-expiring">1<' in body
    listed = client.get("/exceptions/?expiring_within=14").content.decode()
    assert listed.count('data-testid="exception-link"') == 1


def test_evidence_pack_lists_exceptions_in_the_period_with_their_approver(owner, security):
    from governance.evidence.sections import exceptions_queryset

    exc = active_exception(owner, security, days=10)
    now = timezone.now()
    rows = list(exceptions_queryset(now - timedelta(days=1), now + timedelta(days=1)))
    assert len(rows) == 1
    from governance.exceptions.evidence import COLUMNS

    row = dict(zip(COLUMNS, rows[0], strict=True))
    assert row["pk"] == exc.pk and row["rule"] == exc.rule and row["state"] == "active"
    assert row["requested_by__username"] == "owner" and row["identity_id"] == exc.identity_id
    assert row["approved_by"] == "security"
    assert list(exceptions_queryset(now + timedelta(days=2), now + timedelta(days=3))) == rows  # still active
    assert (
        list(exceptions_queryset(now - timedelta(days=9), now - timedelta(days=8))) == []
    )  # not yet requested


def test_the_exception_transition_table_is_the_lifecycle():
    from governance.exceptions.models import PolicyException

    State = PolicyException.State
    assert set(PolicyException.TRANSITIONS) == set(State.values)
    reachable = {State.REQUESTED} | {to for tos in PolicyException.TRANSITIONS.values() for to in tos}
    assert reachable == set(State.values)
    assert PolicyException(state=State.REQUESTED).can_move_to(State.ACTIVE)
    assert not PolicyException(state=State.REQUESTED).can_move_to(State.REVOKED)
    for final in (State.REJECTED, State.EXPIRED, State.REVOKED):
        assert not any(PolicyException(state=final).can_move_to(to) for to in State.values)
