"""The review services. `governance.reviews.services.run_cadence(now)` is what the job registry calls."""

from governance.reviews.services.cadence import (
    close_overdue_campaigns,
    refresh_next_review_due,
    run_cadence,
)
from governance.reviews.services.campaigns import close_campaign, reassign, send_reminders
from governance.reviews.services.common import can_decide, can_view
from governance.reviews.services.decisions import (
    bulk_certify,
    confirm_remediation,
    decide,
    record_shown,
    sign_off,
)
from governance.reviews.services.launch import launch_campaign, verify_population

__all__ = [
    "bulk_certify",
    "can_decide",
    "can_view",
    "close_campaign",
    "close_overdue_campaigns",
    "confirm_remediation",
    "decide",
    "launch_campaign",
    "reassign",
    "record_shown",
    "refresh_next_review_due",
    "run_cadence",
    "send_reminders",
    "sign_off",
    "verify_population",
]
