"""Scheduled-job hooks of the exceptions register.

`governance.jobs.builtin` already registers, by dotted path: the expirer
(`services.expire_due`), the suppression source (`services.active_suppressions`), the
`exception_expired` finding source (`services.expired_exception_hits`) and the reminder source
(`reminders.due_items`). Importing this module (it is in `HOOK_MODULES`) only makes sure they load.
"""

from governance.exceptions import reminders, services  # noqa: F401
