"""Governance's own scheduled jobs and hooks, registered when the app is ready (`GovernanceConfig`).

Approvals and inventory register theirs from `approvals.jobs` and `inventory.jobs`.
"""

from governance import checkpoints
from governance.dashboard import snapshot
from governance.decisions import attestation, jit
from governance.evidence import builder as evidence_builder
from governance.exceptions import reminders as exception_reminders
from governance.exceptions import services as exceptions
from governance.findings import reminders as finding_reminders
from governance.findings.sweep import run_sweep
from governance.jobs import expiry, registry
from governance.jobs.reminders import run_reminders
from governance.reviews import reminders as review_reminders
from governance.reviews import services as reviews

JOBS = (
    ("sweep", run_sweep, "Open and resolve findings (hourly)."),
    (
        "review_cadence",
        reviews.run_cadence,
        "Open review campaigns due by cadence; close finished ones (daily).",
    ),
    ("reminders", run_reminders, "Reminder digests and escalations (daily)."),
    ("expiry", expiry.run_expiry, "End time-bound grants and exceptions (hourly)."),
    ("posture_snapshot", snapshot.take_snapshot, "Store the day's posture figures (daily)."),
    (
        "evidence_recovery",
        evidence_builder.recover_stuck_exports,
        "Rebuild evidence packs whose worker died mid-build; fail those interrupted too often "
        "(every 15 min).",
    ),
    (
        "audit_checkpoint",
        checkpoints.sign_scheduled_checkpoint,
        "Sign the audit chain's head with the checkpoint key (hourly; STEWARD_AUDIT_CHECKPOINT_MINUTES).",
    ),
    (
        "access_requests",
        jit.expire_stale_access_requests,
        "Expire undecided just-in-time requests past their deadline; close finished windows (hourly).",
    ),
    (
        "signing_keys",
        attestation.rotate_signing_keys_if_due,
        "Make sure an attestation key signs now; rotate when due (daily).",
    ),
)
for name, target, description in JOBS:
    registry.register_job(name, target, description)

registry.register_expirer("exceptions", exceptions.expire_due)

registry.register_reminder_source("findings", finding_reminders.open_findings_on_owned_identities)
registry.register_reminder_source("reviews", review_reminders.due_items)
registry.register_reminder_source("exceptions", exception_reminders.due_items)

registry.register_suppression_source("exceptions", exceptions.active_suppressions)
registry.register_finding_source("exception_expired", "exceptions", exceptions.expired_exception_hits)
