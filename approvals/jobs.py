"""Scheduled work of the approvals feature, registered with the governance job registry when the app is
ready (`ApprovalsConfig`)."""

from approvals import notifications, reminders
from approvals.services import stale
from governance.jobs import registry

registry.register_job(
    "stale_requests",
    stale.remind_and_expire_stale_requests,
    "Remind pending requests untouched for the policy's days, then expire them (daily).",
)
registry.register_job(
    "notifications",
    notifications.deliver_pending,
    "Deliver notifications still waiting in the outbox (the broker or a channel was down) (every 5 min).",
)
registry.register_reminder_source("approvals", reminders.due_items)
