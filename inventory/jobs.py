"""Scheduled work of the inventory, registered with the governance job registry when the app is ready
(`InventoryConfig`)."""

from governance.jobs import registry
from inventory import expiry, previews, reminders

registry.register_job(
    "import_previews",
    previews.delete_abandoned_previews,
    "Delete import previews nobody confirmed within a day (hourly).",
)
registry.register_expirer("grants", expiry.expire_grants)
registry.register_reminder_source("credentials", reminders.credentials_expiring_soon)
