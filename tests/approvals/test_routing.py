"""Each tier routes to the steps the policy names; safe requests are approved by policy itself."""

import pytest

from approvals.models import SYSTEM_POLICY, ApprovalStep, IntakeRequest
from governance.models import AuditEvent
from inventory.models import Identity

EXPECTED_ROUTES = {
    "low": ["iam"],
    "medium": ["iam"],
    "high": ["iam", "security"],
    "critical": ["iam", "iam", "security"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("tier", list(EXPECTED_ROUTES))
def test_each_tier_is_routed_to_the_policy_steps(owner, make_intake, tier):
    intake = make_intake(owner, tier)
    assert intake.risk_tier == tier
    assert intake.state == IntakeRequest.State.SUBMITTED
    steps = list(intake.approval.steps.order_by("order"))
    assert [s.role for s in steps] == EXPECTED_ROUTES[tier]
    assert [s.state for s in steps] == ["pending"] * len(steps)
    assert steps[0].opened_at is not None and all(s.opened_at is None for s in steps[1:])


@pytest.mark.django_db
def test_critical_needs_two_distinct_iam_people_then_security(owner, iam, iam2, security, make_intake):
    from approvals.services import intake as svc

    intake = make_intake(owner, "critical")
    svc.approve(iam, intake)
    svc.approve(iam2, intake)
    assert intake.approval.steps.get(order=3).state == "pending"
    svc.approve(security, intake)
    intake.refresh_from_db()
    assert intake.state == "approved"
    assert [s.decided_by.username for s in intake.approval.steps.order_by("order")] == [
        "iam",
        "iam2",
        "security",
    ]


@pytest.mark.django_db
def test_safe_request_is_auto_approved_by_policy_with_the_rule_recorded(owner, make_intake):
    intake = make_intake(owner, "auto")
    assert intake.state == IntakeRequest.State.APPROVED
    step = intake.approval.steps.get()
    assert step.state == ApprovalStep.State.APPROVED
    assert step.decided_by is None and step.decided_by_system == SYSTEM_POLICY
    assert "auto_approve" in step.rule and "sandbox" in step.rule
    assert intake.identity.status == Identity.Status.ACTIVE
    event = AuditEvent.objects.get(verb="approval.auto_approved")
    assert event.actor == SYSTEM_POLICY and "auto_approve" in event.reason
    created = AuditEvent.objects.get(verb="identity.created")
    assert created.actor == SYSTEM_POLICY


@pytest.mark.django_db
@pytest.mark.parametrize(
    "override",
    [
        {"environments": ["dev"]},  # outside the auto-approved environments
        {"vendor": "Unknown AI Ltd"},  # vendor not on the allowed list
        {"grants": [{"resource_kind": "repository", "resource_name": "x/y", "actions": ["write_code"]}]},
    ],
)
def test_requests_outside_the_auto_approval_rule_go_to_people(owner, make_intake, override):
    intake = make_intake(owner, "auto", **override)
    assert intake.state == IntakeRequest.State.SUBMITTED
    assert intake.approval.steps.filter(decided_by_system="").count() == 1


@pytest.mark.django_db
def test_auto_approval_can_be_switched_off_by_policy(owner, security, iam, make_intake):
    from governance.policy.services import DEFAULT_POLICY, approve_policy, propose_policy

    proposal = propose_policy(security, {**DEFAULT_POLICY, "auto_approve": {"enabled": False}}, note="people")
    approve_policy(iam, proposal)
    intake = make_intake(owner, "auto")
    assert intake.state == IntakeRequest.State.SUBMITTED


@pytest.mark.django_db
def test_iam_raising_the_tier_adds_the_missing_steps_and_never_lowers(owner, iam, make_intake):
    from django.core.exceptions import ValidationError

    from approvals.services import intake as svc

    intake = make_intake(owner, "medium")
    intake = svc.raise_tier(iam, intake, "high", "touches customer repositories")
    assert intake.risk_tier == "high"
    assert any("Raised to high by IAM" in r for r in intake.risk_reasons)
    assert [s.role for s in intake.approval.steps.order_by("order")] == ["iam", "security"]
    with pytest.raises(ValidationError) as err:
        svc.raise_tier(iam, intake, "low", "oops")
    assert "never lowered" in str(err.value)


@pytest.mark.django_db
def test_raised_tier_keeps_steps_already_approved(owner, iam, iam2, make_intake):
    from approvals.services import intake as svc

    intake = make_intake(owner, "high")
    svc.approve(iam, intake)
    intake = svc.raise_tier(iam2, intake, "critical", "autonomous deploys")
    steps = list(intake.approval.steps.order_by("order"))
    assert [(s.role, s.state) for s in steps] == [
        ("iam", "approved"),
        ("iam", "pending"),
        ("security", "pending"),
    ]
