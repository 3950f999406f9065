"""System checks for the single sign-on configuration (run by `manage.py check` and at start)."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

ENDPOINTS = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT")


@register("security")
def check_sso_settings(app_configs=None, **kwargs):
    from governance.people.provider import sso_enabled
    from governance.people.sso import role_map

    errors = []
    try:
        role_map()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="steward.E101"))
    if not sso_enabled():
        return errors
    if not getattr(settings, "OIDC_RP_CLIENT_SECRET", ""):
        errors.append(
            Error("SSO is on (OIDC_RP_CLIENT_ID) but OIDC_RP_CLIENT_SECRET is empty.", id="steward.E102")
        )
    if not getattr(settings, "OIDC_OP_DISCOVERY_ENDPOINT", ""):
        missing = [name for name in ENDPOINTS if not getattr(settings, name, "")]
        algo = getattr(settings, "OIDC_RP_SIGN_ALGO", "RS256")
        if algo.startswith(("RS", "ES")) and not getattr(settings, "OIDC_OP_JWKS_ENDPOINT", ""):
            missing.append("OIDC_OP_JWKS_ENDPOINT")
        if missing:
            errors.append(
                Error(
                    f"SSO is on but {', '.join(missing)} not set; set them or OIDC_OP_DISCOVERY_ENDPOINT.",
                    id="steward.E103",
                )
            )
    return errors
