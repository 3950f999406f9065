"""View-side role checks. Services check again: hiding a button is never the only guard."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

from governance.people.models import Role

READERS = (Role.IAM, Role.SECURITY, Role.AUDITOR)
GOVERNORS = (Role.IAM, Role.SECURITY)
MEMBERS = (Role.OWNER, Role.IAM, Role.SECURITY, Role.AUDITOR)


def role_required(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_role(*roles):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def is_htmx(request) -> bool:
    """An htmx request that wants a fragment (boosted navigation wants the full page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted
