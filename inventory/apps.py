from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from governance.people.signals import user_deactivated
        from inventory import (
            lookups,  # noqa: F401  (registers the JSON `has_item` lookup)
            ownership,
            timeline,
        )
        from inventory.views import ownership as ownership_pages

        user_deactivated.connect(ownership.on_user_deactivated, dispatch_uid="inventory.owner_departure")
        ownership_pages.register_identity_panel()
        timeline.register_sources()
        from inventory import jobs  # noqa: F401  (registers inventory's scheduled jobs)
