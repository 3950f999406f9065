"""A user was deactivated: ownership handling (promote backups, orphan queue) listens here."""

from django.dispatch import Signal

user_deactivated = Signal()  # kwargs: user, actor
