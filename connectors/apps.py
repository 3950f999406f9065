from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        from connectors import (
            enforcement,
            findings,
            jobs,  # noqa: F401  (registers the connectors' scheduled jobs)
            panels,
            tasks,  # noqa: F401  (registers the Celery tasks the services enqueue by name)
        )
        from connectors.kinds import (
            aws_iam,  # noqa: F401  (registers the aws_iam kind)
            endpoint_scan,  # noqa: F401  (registers the endpoint_scan kind)
            github_org,  # noqa: F401  (registers the github_org kind)
        )
        from inventory import enforcement as inventory_enforcement

        inventory_enforcement.register("connectors", enforcement.on_revocation)
        findings.register()
        panels.register()
