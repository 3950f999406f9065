"""Activation pages: an imported, registered or triaged identity whose tier needs more than one
approval step waits `proposed`; approvers decide its activation here.

Thin: authorise, call the approval engine, render.
"""

from __future__ import annotations

from approvals.flows import activation
from approvals.views import engine_pages
from inventory.models import ActivationRequest

activation_detail, activation_decide = engine_pages.request_views(
    ActivationRequest, activation.KIND, unchanged="the identity stays proposed and returns to triage"
)
