"""A flow's row (an exception, a just-in-time request, …) and the approval request deciding it: find
it, and approve or reject it through the engine, getting the row back as the flow's hook left it."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from approvals.models import ApprovalRequest
from approvals.services.decisions import approve, reject


def approval_of(subject) -> ApprovalRequest:
    return ApprovalRequest.objects.get(
        content_type=ContentType.objects.get_for_model(type(subject)), object_id=subject.pk
    )


def approve_subject(actor, subject, comment: str = ""):
    approve(actor, approval_of(subject), comment=comment)
    subject.refresh_from_db()
    return subject


def reject_subject(actor, subject, comment: str):
    reject(actor, approval_of(subject), comment=comment)
    subject.refresh_from_db()
    return subject
