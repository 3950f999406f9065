"""The built-in jobs and hooks, plus dotted paths for features that may not be in this build yet.

A dotted path whose module is missing is skipped, so the schedule works before the reviews,
exceptions and approvals features land. What those features are expected to provide:

- ``governance.reviews.services.run_cadence(now) -> dict``: open campaigns due by cadence, close
  finished ones.
- ``governance.exceptions.services.expire_due(now) -> int``: move active exceptions past expiry to
  ``expired``.
- ``governance.exceptions.services.active_suppressions(now) -> Iterable[(identity_id, rule)]``:
  findings an active exception covers.
- ``governance.exceptions.services.expired_exception_hits(now) -> Iterable[Hit | tuple]``: identities
  whose exception expired while the departure remains (the ``exception_expired`` rule).
- ``<feature>.reminders.due_items(now) -> Iterable[Due]`` for approvals, reviews and exceptions.
"""

from governance.jobs import registry

registry.register_job("sweep", "governance.findings.sweep.run_sweep", "Open and resolve findings (hourly).")
registry.register_job(
    "review_cadence",
    "governance.reviews.services.run_cadence",
    "Open review campaigns due by cadence; close finished ones (daily).",
)
registry.register_job(
    "reminders", "governance.jobs.reminders.run_reminders", "Reminder digests and escalations (daily)."
)
registry.register_job(
    "expiry", "governance.jobs.expiry.run_expiry", "End time-bound grants and exceptions (hourly)."
)
registry.register_job(
    "posture_snapshot", "governance.jobs.snapshot.take_snapshot", "Store the day's posture figures (daily)."
)

registry.register_job(
    "evidence_recovery",
    "governance.evidence.builder.recover_stuck_exports",
    "Rebuild evidence packs whose worker died mid-build; fail those interrupted too often (every 15 min).",
)

registry.register_job(
    "audit_checkpoint",
    "governance.checkpoints.sign_scheduled_checkpoint",
    "Sign the audit chain's head with the checkpoint key (hourly; STEWARD_AUDIT_CHECKPOINT_MINUTES).",
)

registry.register_expirer("grants", "governance.jobs.expiry.expire_grants")
registry.register_expirer("exceptions", "governance.exceptions.services.expire_due")

registry.register_reminder_source("findings", "governance.jobs.reminders.open_findings_on_owned_identities")
registry.register_reminder_source("credentials", "governance.jobs.reminders.credentials_expiring_soon")
registry.register_reminder_source("approvals", "approvals.reminders.due_items")
registry.register_reminder_source("reviews", "governance.reviews.reminders.due_items")
registry.register_reminder_source("exceptions", "governance.exceptions.reminders.due_items")

registry.register_suppression_source("exceptions", "governance.exceptions.services.active_suppressions")
registry.register_finding_source(
    "exception_expired", "exceptions", "governance.exceptions.services.expired_exception_hits"
)
