"""Approval models: the generic engine (requests, steps, discussion), the intake request and the
notification outbox."""

from approvals.models.engine import (  # noqa: F401
    SYSTEM_POLICY,
    ApprovalRequest,
    ApprovalStep,
    ApproverRole,
    Comment,
    roles_of,
)
from approvals.models.intake import IntakeRequest  # noqa: F401
from approvals.models.outbox import Notification  # noqa: F401
