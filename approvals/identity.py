"""What approvals add to an identity's timeline: its intake request, and every approval request about
a row of its story that the approval engine decides (the kinds the timeline's sources mark
`approvable`)."""

from __future__ import annotations

from django.db.models import Q

from approvals.models import ApprovalRequest, IntakeRequest
from governance.links import link
from inventory import timeline


def _approval_requests(identity):
    condition = Q()
    for source in timeline.sources():
        if source.approvable:
            rows = source.rows(identity)
            meta = rows.model._meta
            condition |= Q(
                content_type__app_label=meta.app_label,
                content_type__model=meta.model_name,
                object_id__in=rows.values("pk"),
            )
    return ApprovalRequest.objects.filter(condition)


def register() -> None:
    timeline.register_source(timeline.Source.for_model(IntakeRequest, "intake-detail", approvable=True))
    timeline.register_source(
        timeline.Source(
            "approvals.approvalrequest",
            _approval_requests,
            lambda subject_id, identity: link("approval-detail", subject_id),
        )
    )
