"""Decisions and their outcomes: final approval creates exactly what was approved; rejection nothing;
a send-back goes to the requester, who edits and resubmits, with the history kept."""

import pytest
from django.core.exceptions import ValidationError

from approvals.models import ApprovalRequest, Comment, IntakeRequest
from approvals.services import intake as svc
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from inventory import ownership
from inventory.models import Credential, Grant, Identity, OwnershipTransfer
from tests.approvals.conftest import future


def _grants(identity):
    return sorted(
        (
            g.resource_kind,
            g.resource_name,
            tuple(g.actions),
            g.expires_at.isoformat() if g.expires_at else None,
        )
        for g in identity.grants.all()
    )


@pytest.mark.django_db
def test_created_identity_has_exactly_the_approved_grants_owner_and_tier(
    owner, owner2, iam, security, team, make_intake
):
    expiry = future(30)
    grants = [
        {"resource_kind": "repository", "resource_name": "org/app", "actions": ["open_pr", "merge"]},
        {
            "resource_kind": "ticketing",
            "resource_name": "JIRA/PAY",
            "actions": ["read_tickets"],
            "expires_at": expiry,
        },
    ]
    intake = make_intake(owner, "high", grants=grants, backup_owner=owner2)
    svc.approve(iam, intake, comment="fine")
    svc.approve(security, intake)
    intake.refresh_from_db()
    identity = intake.identity
    assert intake.state == IntakeRequest.State.APPROVED
    assert identity.status == Identity.Status.ACTIVE
    # The requester is the owner; the backup owner they named is asked first (issue 18, item 4).
    assert (identity.owner, identity.backup_owner, identity.team) == (owner, None, team)
    nomination = OwnershipTransfer.objects.get(identity=identity, state="proposed")
    assert (nomination.role, nomination.to_owner) == ("backup_owner", owner2)
    ownership.accept_transfer(owner2, nomination)
    identity.refresh_from_db()
    assert identity.backup_owner == owner2
    assert identity.risk_tier == "high" and identity.risk_reasons == intake.risk_reasons
    assert identity.source == "intake" and identity.external_id == f"intake-{intake.pk}"
    assert identity.intake_request == intake
    assert _grants(identity) == sorted(
        (g["resource_kind"], g["resource_name"], tuple(g["actions"]), g["expires_at"]) for g in intake.grants
    )
    assert set(identity.grants.values_list("origin", flat=True)) == {Grant.Origin.INTAKE}
    credential = identity.credentials.get()
    assert credential.kind == Credential.Kind.OIDC_FEDERATION and intake.name in credential.label
    created = AuditEvent.objects.get(verb="identity.created")
    assert created.actor == "security"


@pytest.mark.django_db
def test_rejection_is_final_and_creates_nothing(owner, iam, security, make_intake):
    intake = make_intake(owner, "high")
    svc.reject(iam, intake, comment="Use the approved assistant instead.")
    intake.refresh_from_db()
    assert intake.state == IntakeRequest.State.REJECTED and intake.identity is None
    assert not Identity.objects.filter(name=intake.name).exists()
    assert [s.state for s in intake.approval.steps.order_by("order")] == ["rejected", "skipped"]
    with pytest.raises(IllegalTransition):
        svc.approve(security, intake)
    with pytest.raises(IllegalTransition):
        svc.submit(owner, intake)


@pytest.mark.django_db
def test_reject_and_request_changes_need_a_comment(owner, iam, make_intake):
    intake = make_intake(owner, "medium")
    for decide in (svc.reject, svc.request_changes):
        with pytest.raises(ValidationError) as err:
            decide(iam, intake, comment="  ")
        assert "comment" in err.value.message_dict


@pytest.mark.django_db
def test_send_back_loop_edit_resubmit_keeps_history(owner, iam, iam2, security, make_intake):
    intake = make_intake(owner, "high")
    svc.approve(iam, intake)
    svc.request_changes(security, intake, comment="Drop merge; open_pr is enough.")
    intake.refresh_from_db()
    assert intake.state == IntakeRequest.State.CHANGES_REQUESTED
    assert intake.approval.state == ApprovalRequest.State.CHANGES_REQUESTED
    with pytest.raises(IllegalTransition):
        svc.approve(iam2, intake)
    # Nobody but the requester edits.
    with pytest.raises(NotAllowed):
        svc.update_draft(iam, intake, {"purpose": "changed by someone else entirely"})
    intake = svc.update_draft(
        owner,
        intake,
        {"grants": [{"resource_kind": "repository", "resource_name": "org/app", "actions": ["open_pr"]}]},
    )
    assert intake.risk_tier == "medium"
    intake = svc.submit(owner, intake, comment="Dropped merge.")
    approval = intake.approval
    assert intake.state == IntakeRequest.State.SUBMITTED and approval.round == 2
    # A fresh round for the new tier; round 1 stays as it was decided.
    assert [(s.round, s.role, s.state) for s in approval.steps.order_by("round", "order")] == [
        (1, "iam", "approved"),
        (1, "security", "changes_requested"),
        (2, "iam", "pending"),
    ]
    svc.approve(iam, intake)  # the same person may decide again in a new round
    intake.refresh_from_db()
    assert intake.state == IntakeRequest.State.APPROVED
    assert list(intake.identity.grants.values_list("actions", flat=True)) == [["open_pr"]]
    events = list(approval.comments.values_list("event", flat=True))
    assert events == ["submitted", "approved", "changes_requested", "resubmitted", "approved"]
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"approval.changes_requested", "approval.resubmitted", "intake.changes_requested"} <= verbs


@pytest.mark.django_db
def test_withdraw_by_requester_only_and_then_final(owner, iam, make_intake):
    intake = make_intake(owner, "high")
    with pytest.raises(NotAllowed):
        svc.withdraw(iam, intake)
    intake = svc.withdraw(owner, intake, reason="No longer needed")
    assert intake.state == "withdrawn"
    assert intake.approval.steps.filter(state="pending").count() == 0
    with pytest.raises(IllegalTransition):
        svc.withdraw(owner, intake)


@pytest.mark.django_db
def test_a_draft_can_be_withdrawn_and_has_nothing_to_decide(owner, iam, make_intake):
    intake = make_intake(owner, "high", submit=False)
    with pytest.raises(IllegalTransition, match="not been submitted"):
        svc.approve(iam, intake)
    assert svc.withdraw(owner, intake).state == "withdrawn"


@pytest.mark.django_db
def test_submit_checks_completeness_field_by_field_and_writes_nothing(owner):
    draft = svc.create_draft(owner, {"name": "half-done"})
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as err:
        svc.submit(owner, draft)
    fields = set(err.value.message_dict)
    assert {"kind", "vendor", "purpose", "environments", "grants", "credential_kind"} <= fields
    assert "name" not in fields and "owner" not in fields  # given, and defaulted to the requester
    draft.refresh_from_db()
    assert draft.state == "draft" and draft.approval is None
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_deny_rule_blocks_submission_with_a_clear_message(owner, make_intake):
    grants = [{"resource_kind": "secret_store", "resource_name": "vault/prod", "actions": ["read_secrets"]}]
    intake = make_intake(owner, "high", submit=False, grants=grants)
    with pytest.raises(ValidationError) as err:
        svc.submit(owner, intake)
    message = " ".join(err.value.message_dict["grants"])
    assert "may not read or write secrets in prod" in message and "assistant_prod_secrets" in message


@pytest.mark.django_db
def test_name_must_be_free(owner, make_intake):
    from tests.factories import IdentityFactory

    IdentityFactory(name="taken-name")
    intake = make_intake(owner, "medium", submit=False, name="taken-name")
    with pytest.raises(ValidationError) as err:
        svc.submit(owner, intake)
    assert "already exists" in err.value.message_dict["name"][0]


@pytest.mark.django_db
def test_secret_looking_answers_are_refused(owner):
    with pytest.raises(ValidationError) as err:
        svc.create_draft(owner, {"name": "x", "purpose": "token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    assert "purpose" in err.value.message_dict


@pytest.mark.django_db
def test_auditors_and_people_without_a_role_cannot_request(auditor, outsider):
    for user in (auditor, outsider):
        with pytest.raises(NotAllowed):
            svc.create_draft(user, {"name": "nope"})


@pytest.mark.django_db
def test_every_step_and_outcome_is_audited(owner, iam, security, make_intake):
    intake = make_intake(owner, "high")
    svc.approve(iam, intake)
    svc.approve(security, intake)
    verbs = list(AuditEvent.objects.order_by("seq").values_list("verb", flat=True))
    assert verbs == [
        "intake.created",
        "intake.submitted",
        "approval.opened",
        "approval.step_approved",
        "approval.approved",
        "identity.created",
        "intake.approved",
    ]
    assert Comment.objects.filter(request=intake.approval).count() == 3
