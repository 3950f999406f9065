"""Approval models: the generic engine (requests, steps, discussion) and the intake request."""

from approvals.models.engine import (  # noqa: F401
    SYSTEM_POLICY,
    ApprovalRequest,
    ApprovalStep,
    ApproverRole,
    Comment,
    roles_of,
)
from approvals.models.intake import IntakeRequest  # noqa: F401
