from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # Each flow registers its approval handler on import.
        from approvals import (
            identity,
            jobs,  # noqa: F401  (registers approvals' scheduled jobs)
            notifications,
            tasks,  # noqa: F401  (the Celery task notifications enqueue by name)
        )
        from approvals.flows import activation, reactivation, scope  # noqa: F401  (their approval kinds)
        from approvals.services import intake  # noqa: F401
        from inventory import routes

        routes.register("activation", activation)
        routes.register("scope", scope)
        routes.register("notifications", notifications)

        identity.register()  # the intake and approval requests in an identity's timeline
