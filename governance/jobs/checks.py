"""System check: every hook registered with the scheduled jobs can be found (run at start and by
`manage.py check`), so a misspelt or missing source fails loudly instead of being skipped."""

from django.core.checks import Error, register


@register()
def check_job_hooks(app_configs=None, **kwargs):
    from governance.jobs import registry

    return [
        Error(
            f"The {kind} '{hook.name}' is registered as {hook.target!r}, which does not exist.",
            hint="Fix the dotted path, or add the module that provides it.",
            obj="governance.jobs.registry",
            id="steward.E201",
        )
        for kind, hook in registry.unresolved()
    ]
