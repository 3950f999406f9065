"""Activation pages: an imported, registered or triaged identity whose tier needs more than one
approval step waits `proposed`; approvers decide its activation here.

Thin: authorise, call the approval engine, render.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from approvals.flows import activation
from approvals.models import ApprovalRequest
from approvals.views import engine_pages
from governance.access import MEMBERS, role_required
from inventory.models import ActivationRequest


def approval_of(item: ActivationRequest) -> ApprovalRequest | None:
    return engine_pages.approval_for(activation.KIND, item.pk)


@role_required(*MEMBERS)
def activation_detail(request, pk: int):
    item = get_object_or_404(
        ActivationRequest.objects.select_related("identity", "identity__owner", "requester"), pk=pk
    )
    return engine_pages.request_page(request, item, approval_of(item), "approvals/flows/activation.html")


@require_POST
@role_required(*MEMBERS)
def activation_decide(request, pk: int):
    item = get_object_or_404(ActivationRequest, pk=pk)
    return engine_pages.decide(
        request,
        item,
        approval_of(item),
        what="activation",
        unchanged="the identity stays proposed and returns to triage",
    )
