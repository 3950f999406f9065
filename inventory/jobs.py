"""Scheduled work of the inventory, registered with the governance job registry when the app is ready
(`InventoryConfig`)."""

from governance.jobs import registry
from inventory import previews

registry.register_job(
    "import_previews",
    previews.delete_abandoned_previews,
    "Delete import previews nobody confirmed within a day (hourly).",
)
