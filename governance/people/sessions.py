"""Signed-in sessions Steward can end: every login is recorded with its session key (and, for SSO,
the provider's `sid`), so deactivation, SCIM and back-channel logout end a person's sessions at once
whatever session store is configured."""

from __future__ import annotations

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.dispatch import receiver

from governance.people.models import SignedInSession

logger = logging.getLogger(__name__)


def _store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def remember(request, user, *, issuer: str = "", sid: str = "") -> None:
    """Record the request's session as the user's (called at login; SSO adds issuer and sid)."""
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    SignedInSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={"user": user, "sso_issuer": issuer, "sso_sid": sid},
    )


def end_session_keys(keys: list[str]) -> int:
    """End these sessions in the session store and forget them."""
    store = _store()
    for key in keys:
        store(session_key=key).delete()
    SignedInSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def _end(records) -> int:
    return end_session_keys(list(records.values_list("session_key", flat=True)))


def end_sessions(user) -> int:
    """End every session of `user` now; returns how many. Runs after commit when in a transaction,
    so a rolled-back deactivation ends nothing."""
    records = SignedInSession.objects.filter(user=user)
    count = records.count()
    transaction.on_commit(lambda: _end(SignedInSession.objects.filter(user_id=user.pk)))
    return count


@receiver(user_logged_in, dispatch_uid="steward.remember_session")
def _on_login(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    state = (session.get("steward_sso") if session is not None else None) or {}
    remember(request, user, issuer=state.get("issuer", ""), sid=state.get("sid", ""))


@receiver(user_logged_out, dispatch_uid="steward.forget_session")
def _on_logout(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        SignedInSession.objects.filter(session_key=key).delete()
