"""The approval engine's public face: import services from here.

Other flows (exceptions, ownership transfers, scope changes, reactivation, just-in-time access) open a
request with `open_request(...)`, or `open_identity_request(...)` for a change to one identity, and
register an `approvals.registry.ApprovalKind` for their kind.
"""

from approvals.services.common import (  # noqa: F401
    Decision,
    conflicted_user_ids,
    eligible_deciders,
    refusal,
)
from approvals.services.decisions import approve, decide, reject, request_changes  # noqa: F401
from approvals.services.requests import (  # noqa: F401
    add_comment,
    awaiting_count,
    may_comment,
    next_awaiting,
    open_identity_request,
    open_request,
    raise_tier,
    resubmit,
    withdraw,
)
from approvals.services.subjects import approval_of, approve_subject, reject_subject  # noqa: F401
