"""Governance models live in sub-packages by topic; Django finds them through this module."""

from governance.audit_models import AppendOnlyError, AuditChainHead, AuditCheckpoint, AuditEvent  # noqa: F401
from governance.decisions.models import AccessRequest, DecisionRecord, SigningKey  # noqa: F401
from governance.evidence.models import Control, EvidenceExport  # noqa: F401, E402
from governance.exceptions.models import PolicyException  # noqa: F401, E402
from governance.findings.models import Finding  # noqa: F401, E402
from governance.jobs.models import JobLock, JobRun, PostureSnapshot, Reminder, ReminderOptOut  # noqa: F401, E402
from governance.lists.models import ListPreference  # noqa: F401, E402
from governance.people.models import (  # noqa: F401
    ApiToken,
    Role,
    ScimGroup,
    SignedInSession,
    SsoBinding,
    Team,
    User,
)
from governance.policy.models import CedarPolicySet, PolicyTestCase, PolicyVersion  # noqa: F401
from governance.reviews.models import ReviewCampaign, ReviewItem, ReviewReminder  # noqa: F401
