"""Scheduled work of the inventory, registered with the governance job registry."""

from governance.jobs import registry

registry.register_job(
    "import_previews",
    "inventory.previews.delete_abandoned_previews",
    "Delete import previews nobody confirmed within a day (hourly).",
)
