"""Two approvers acting on the same step at the same moment: exactly one decision and one 409."""

import pytest
from django.db import connection

from approvals.models import ApprovalStep
from approvals.services import intake as svc
from governance.errors import IllegalTransition
from governance.models import AuditEvent
from tests.races import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


@pytest.mark.django_db(transaction=True)
def test_two_iam_approvers_on_the_same_step_yield_one_decision_and_one_409(owner, iam, iam2, make_intake):
    intake = make_intake(owner, "high")
    step = intake.approval.steps.get(order=1)
    outcomes = race(
        [
            lambda: svc.approve(iam, intake, comment="one", step_id=step.pk),
            lambda: svc.approve(iam2, intake, comment="two", step_id=step.pk),
        ]
    )
    conflicts = [o for o in outcomes if isinstance(o, IllegalTransition)]
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(successes) == 1 and len(conflicts) == 1, outcomes
    assert "already decided" in conflicts[0].message
    step.refresh_from_db()
    assert step.state == ApprovalStep.State.APPROVED and step.decided_by in (iam, iam2)
    assert AuditEvent.objects.filter(verb="approval.step_approved").count() == 1
    assert intake.approval.comments.filter(event="approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_final_approvals_create_one_identity(owner, iam, security, make_intake):
    from governance.people.models import Role
    from tests.factories import UserFactory

    security2 = UserFactory(username="security2", roles=[Role.SECURITY])
    intake = make_intake(owner, "high")
    svc.approve(iam, intake)
    step = intake.approval.steps.get(order=2)
    outcomes = race(
        [
            lambda: svc.approve(security, intake, step_id=step.pk),
            lambda: svc.approve(security2, intake, step_id=step.pk),
        ]
    )
    assert sum(isinstance(o, IllegalTransition) for o in outcomes) == 1, outcomes
    assert AuditEvent.objects.filter(verb="identity.created").count() == 1
    intake.refresh_from_db()
    assert intake.state == "approved" and intake.identity is not None


@pytest.mark.django_db(transaction=True)
def test_approve_racing_reject_yields_one_outcome(owner, iam, iam2, make_intake):
    intake = make_intake(owner, "medium")
    step = intake.approval.steps.get()
    outcomes = race(
        [
            lambda: svc.approve(iam, intake, step_id=step.pk),
            lambda: svc.reject(iam2, intake, comment="no", step_id=step.pk),
        ]
    )
    assert sum(isinstance(o, IllegalTransition) for o in outcomes) == 1, outcomes
    intake.refresh_from_db()
    assert intake.state in ("approved", "rejected")
    assert (intake.identity is not None) == (intake.state == "approved")
