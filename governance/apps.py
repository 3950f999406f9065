from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from governance.decisions import jit  # noqa: F401  (registers the "jit" approval kind)
        from governance.exceptions import identity as exception_panels
        from governance.exceptions import services as exceptions  # noqa: F401  (the "exception" kind)

        exception_panels.register()
        from governance.findings import identity as finding_panels

        finding_panels.register()
        from governance.decisions import identity as access_request_timeline
        from governance.reviews import identity as review_timeline

        access_request_timeline.register()
        review_timeline.register()
        from governance.threats import identity as threat_profiles

        threat_profiles.register()  # the Threats tab, the tier's reasons, agent_threat_uncontrolled
        from governance import tasks  # noqa: F401  (Celery tasks that services enqueue by name)
        from governance.jobs import builtin  # noqa: F401  (registers governance's scheduled jobs)
        from governance.people import (
            checks,  # noqa: F401  (registers the SSO checks)
            sessions,  # noqa: F401  (records sessions at login)
        )
