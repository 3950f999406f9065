from django.apps import AppConfig


class WorkloadConfig(AppConfig):
    name = "workload"
    verbose_name = "Workload identity"

    def ready(self) -> None:
        from governance.findings import sweep
        from inventory import enforcement as inventory_enforcement
        from workload import (
            approval,  # noqa: F401  (registers the trust-binding approval kind)
            drift,
            findings,
            identity,
            jobs,  # noqa: F401  (registers the workload jobs)
            tasks,  # noqa: F401  (registers the Celery task the outbox enqueues by name)
        )

        inventory_enforcement.register("workload", drift.on_revocation)
        sweep.on_findings_opened(drift.on_findings_opened)
        identity.register()
        findings.register()
