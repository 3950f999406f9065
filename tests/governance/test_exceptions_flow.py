"""Requesting, approving, rejecting, revoking and renewing exceptions."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals.models import ApprovalRequest
from governance.audit_models import AuditEvent
from governance.errors import IllegalTransition, NotAllowed
from governance.exceptions import services
from governance.exceptions.models import PolicyException
from governance.people.models import Role
from inventory.models import Identity
from tests.factories import UserFactory
from tests.governance.exceptions_support import RULE, old_key_identity, request

pytestmark = pytest.mark.django_db
State = PolicyException.State


def nothing_written():
    return not PolicyException.objects.exists() and not ApprovalRequest.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"days": 400}, "expires_at"),  # low tier allows 365 days
        ({"days": -1}, "expires_at"),
        ({"justification": "   "}, "justification"),
        ({"rule": "not_a_rule"}, "rule"),
    ],
)
def test_bad_request_names_the_field_and_writes_nothing(owner, change, field):
    identity = old_key_identity(owner)
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        request(owner, identity, **change)
    assert field in info.value.message_dict
    assert nothing_written()
    assert AuditEvent.objects.count() == audit_before


def test_tier_maximum_follows_the_identity_tier(owner):
    identity = old_key_identity(owner, risk_tier=Identity.RiskTier.CRITICAL)  # 30 days at most
    with pytest.raises(ValidationError) as info:
        request(owner, identity, days=45)
    assert "at most 30 days" in info.value.message_dict["expires_at"][0]
    assert request(owner, identity, days=29).state == State.REQUESTED


def test_only_owners_iam_or_security_may_request(owner, owner2, iam, auditor):
    identity = old_key_identity(owner)
    for stranger in (owner2, auditor):
        with pytest.raises(NotAllowed):
            request(stranger, identity)
    assert nothing_written()
    assert request(iam, identity).requested_by == iam


def test_request_opens_a_security_approval(owner, security):
    identity = old_key_identity(owner)
    exc = request(owner, identity)
    assert exc.state == State.REQUESTED
    assert exc.approval.kind == "exception"
    assert [s.role for s in exc.approval.steps.all()] == ["security"]
    assert AuditEvent.objects.filter(verb="exception.requested").count() == 1
    assert ApprovalRequest.objects.awaiting(security).filter(pk=exc.approval_id).exists()


def test_security_approval_makes_it_active_and_audited(owner, security):
    exc = request(owner, old_key_identity(owner))
    exc = services.approve(security, exc, "OK for a month")
    assert exc.state == State.ACTIVE and exc.approved_at is not None
    assert AuditEvent.objects.filter(verb="exception.approved").count() == 1


def test_requester_cannot_approve_their_own_exception():
    requester = UserFactory(username="sec-owner", roles=[Role.SECURITY, Role.OWNER])
    exc = request(requester, old_key_identity(requester))
    with pytest.raises(NotAllowed):
        services.approve(requester, exc)
    exc.refresh_from_db()
    assert exc.state == State.REQUESTED


def test_owner_cannot_approve_an_exception_iam_requested_for_them(iam):
    owner_with_security = UserFactory(username="sec-owner", roles=[Role.SECURITY, Role.OWNER])
    exc = request(iam, old_key_identity(owner_with_security))
    with pytest.raises(NotAllowed):
        services.approve(owner_with_security, exc)


def test_critical_identity_needs_two_different_security_people(owner, security):
    second = UserFactory(username="security2", roles=[Role.SECURITY])
    exc = request(owner, old_key_identity(owner, risk_tier=Identity.RiskTier.CRITICAL), days=20)
    exc = services.approve(security, exc)
    assert exc.state == State.REQUESTED
    with pytest.raises(NotAllowed):
        services.approve(security, exc)
    assert services.approve(second, exc).state == State.ACTIVE


def test_rejection_needs_a_reason_and_leaves_it_rejected(owner, security):
    exc = request(owner, old_key_identity(owner))
    with pytest.raises(ValidationError):
        services.reject(security, exc, "")
    exc = services.reject(security, exc, "Rotate the key instead.")
    assert exc.state == State.REJECTED
    with pytest.raises(IllegalTransition):
        services.approve(security, exc)


def test_revoke_by_security_only_and_only_when_active(owner, security):
    exc = request(owner, old_key_identity(owner))
    with pytest.raises(IllegalTransition):
        services.revoke_exception(security, exc, "no longer needed")
    exc = services.approve(security, exc)
    with pytest.raises(NotAllowed):
        services.revoke_exception(owner, exc, "mine")
    with pytest.raises(ValidationError):
        services.revoke_exception(security, exc, "")
    exc = services.revoke_exception(security, exc, "Key was leaked")
    assert exc.state == State.REVOKED and exc.ended_at is not None
    assert AuditEvent.objects.filter(verb="exception.revoked").count() == 1


def test_a_second_request_for_the_same_rule_is_refused_but_a_renewal_is_linked(owner, security):
    identity = old_key_identity(owner)
    first = services.approve(security, request(owner, identity))
    with pytest.raises(ValidationError) as info:
        request(owner, identity)
    assert "renewal" in info.value.message_dict["rule"][0]
    renewal = request(owner, identity, days=60, renewal_of=first)
    assert renewal.renewal_of == first
    services.approve(security, renewal)
    first.refresh_from_db()
    assert first.state == State.EXPIRED and f"#{renewal.pk}" in first.state_reason
    assert list(first.renewals.all()) == [renewal]


def test_renewal_must_continue_the_same_identity_and_rule(owner, security):
    first = services.approve(security, request(owner, old_key_identity(owner)))
    with pytest.raises(ValidationError) as info:
        request(owner, old_key_identity(owner), renewal_of=first)
    assert "renewal_of" in info.value.message_dict


def test_expiry_job_expires_only_what_is_due(owner, security):
    exc = services.approve(security, request(owner, old_key_identity(owner), days=10))
    assert services.expire_due(timezone.now()) == 0
    assert services.expire_due(timezone.now() + timedelta(days=11)) == 1
    exc.refresh_from_db()
    assert exc.state == State.EXPIRED
    assert services.expire_due(timezone.now() + timedelta(days=12)) == 0
    assert AuditEvent.objects.filter(verb="exception.expired").count() == 1
    assert exc.rule == RULE
