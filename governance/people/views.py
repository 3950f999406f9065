"""Sign-out both ways: Steward's sign-out reaches the provider (RP-initiated logout), and the
provider's sign-out reaches Steward (OpenID Connect Back-Channel Logout 1.0)."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LogoutView
from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from governance.people import backchannel, sso_session

logger = logging.getLogger(__name__)


class StewardLogoutView(LogoutView):
    """Sign out of Steward, then (when the provider offers it) of the provider's session too."""

    def post(self, request, *args, **kwargs):
        target = sso_session.provider_logout_url(request, sso_session.of(request))
        response = super().post(request, *args, **kwargs)
        if target:
            return HttpResponseRedirect(target)
        return response


@login_not_required
@csrf_exempt  # the provider calls this server to server, with no cookie: the signed token is the proof
@never_cache
@require_POST
def backchannel_logout(request):
    try:
        ended = backchannel.log_out(request.POST.get("logout_token", ""))
    except backchannel.InvalidLogoutToken as exc:
        logger.warning("Back-channel logout refused: %s", exc)
        return JsonResponse({"error": "invalid_request", "error_description": str(exc)}, status=400)
    return JsonResponse({"sessions_ended": ended})
