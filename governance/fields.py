"""Two kinds of reference every app's models declare again and again, named once.

Both return a plain `ForeignKey` (or `OneToOneField`) with the same arguments Django would be given by
hand, so migrations see no difference.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def optional_link(to, *, on_delete, related_name: str = "+", one_to_one: bool = False, **options):
    """A reference that may be empty: NULL in the database, not required in forms. No reverse accessor
    unless `related_name` names one."""
    field = models.OneToOneField if one_to_one else models.ForeignKey
    return field(to, null=True, blank=True, on_delete=on_delete, related_name=related_name, **options)


def person_on_record(*, related_name: str = "+", **options) -> models.ForeignKey:
    """The person a row names for what they did or are (who decided, requested, owns): empty until
    then, and never deleted from under the record (PROTECT: people are deactivated, not deleted)."""
    return optional_link(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name=related_name, **options
    )
