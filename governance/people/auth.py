"""Local (password) sign-in: the switch that keeps it for break-glass admins only, the login page,
and the answer to a login locked out by too many failures (django-axes)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _

from governance.people.provider import sso_enabled


def local_login_enabled() -> bool:
    return bool(getattr(settings, "STEWARD_LOCAL_LOGIN", True))


class LocalPasswordBackend(ModelBackend):
    """Passwords work for everyone while local login is on; once off, only for superusers."""

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return local_login_enabled() or user.is_superuser


class StewardAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "local_login_off": _(
            "Password sign-in is switched off: use single sign-on. Only the break-glass administrator "
            "may sign in with a password."
        ),
    }

    def get_invalid_login_error(self):
        if not local_login_enabled():
            return ValidationError(self.error_messages["local_login_off"], code="local_login_off")
        return super().get_invalid_login_error()


class StewardLoginView(LoginView):
    """The login page: "Sign in with SSO" when configured; the password form unless switched off
    (`?local=1` still shows it to the break-glass administrator)."""

    template_name = "registration/login.html"
    authentication_form = StewardAuthenticationForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        local = local_login_enabled()
        context.update(
            {
                "sso_enabled": sso_enabled(),
                "local_login": local,
                "show_password_form": local or not sso_enabled() or "local" in self.request.GET,
                "sso_failed": self.request.GET.get("sso") == "failed",
                "signed_out": "signed_out" in self.request.GET,
            }
        )
        return context


def lockout_response(request, original_response=None, credentials=None):
    """Too many failed sign-ins: the login page again, with a clear message and HTTP 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = StewardAuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "locked_out": True,
        "lockout_minutes": minutes,
        "sso_enabled": sso_enabled(),
        "local_login": local_login_enabled(),
        "show_password_form": True,
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind N trusted proxies the Nth X-Forwarded-For
    entry from the right (entries further left are whatever the client claimed)."""
    proxies = getattr(settings, "STEWARD_TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
