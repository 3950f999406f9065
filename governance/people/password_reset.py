"""Password reset by e-mail: offered only when mail is configured, throttled, links from the base URL.

- **Off unless mail is configured** (`EMAIL_HOST` set): otherwise every reset page answers 404; with
  the console backend a reset link would only reach the server's log.
- **Throttled** per client address and per e-mail address (`STEWARD_PASSWORD_RESET_RATE_PER_ADDRESS`,
  `STEWARD_PASSWORD_RESET_RATE_PER_EMAIL`): over either, HTTP 429 and no mail. The e-mail count is
  kept whether or not the address belongs to anyone, so the answer tells nothing about accounts.
- **Links from `STEWARD_BASE_URL`**, never from the request's Host header, which the requester
  controls (a forged Host would mail the victim a link to the attacker's server carrying the token).
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponseRedirect
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _

from governance.cache import incr_many
from governance.people.auth import client_ip
from governance.throttling import parse_rate


def reset_enabled() -> bool:
    return bool(getattr(settings, "EMAIL_HOST", ""))


class OnlyWithMail:
    """404 for every reset page while no mail server is configured (read per request)."""

    @method_decorator(login_not_required)  # these pages are for people who cannot sign in
    def dispatch(self, request, *args, **kwargs):
        if not reset_enabled():
            raise Http404("Password reset needs a mail server (EMAIL_HOST).")
        return super().dispatch(request, *args, **kwargs)


def _over_limit(scope: str, subject: str, rate: str) -> bool:
    """Count one request for `subject` in this fixed window; True once past the rate's number."""
    limit, period = parse_rate(rate)
    window = int(time.time() // period)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    key = f"password_reset:{scope}:{digest}:{window}"
    return incr_many({key: 1}, period * 2)[key] > limit


class StewardPasswordResetView(OnlyWithMail, auth_views.PasswordResetView):
    def post(self, request, *args, **kwargs):
        rate = settings.STEWARD_PASSWORD_RESET_RATE_PER_ADDRESS
        if _over_limit("address", client_ip(request), rate):
            return self._throttled(self.get_form())
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().casefold()
        if _over_limit("email", email, settings.STEWARD_PASSWORD_RESET_RATE_PER_EMAIL):
            return self._throttled(form)
        base = urlsplit(settings.STEWARD_BASE_URL)
        form.save(
            # The link's scheme and host: the configured public URL, not this request's Host header.
            domain_override=base.netloc,
            use_https=base.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            html_email_template_name=self.html_email_template_name,
            extra_email_context=self.extra_email_context,
        )
        return HttpResponseRedirect(self.get_success_url())

    def _throttled(self, form):
        form.is_valid()  # add_error needs the form cleaned first
        form.add_error("email", _throttled_message())
        return self.render_to_response(self.get_context_data(form=form), status=429)


def _throttled_message() -> str:
    return _("Too many password reset requests. Wait an hour and try again, or ask an administrator.")


class StewardPasswordResetDoneView(OnlyWithMail, auth_views.PasswordResetDoneView):
    pass


class StewardPasswordResetConfirmView(OnlyWithMail, auth_views.PasswordResetConfirmView):
    pass


class StewardPasswordResetCompleteView(OnlyWithMail, auth_views.PasswordResetCompleteView):
    pass


# Same paths and names as django.contrib.auth.urls; included before it, so these win.
urlpatterns = [
    path("password_reset/", StewardPasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", StewardPasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        StewardPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", StewardPasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
