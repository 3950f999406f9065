from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import health
from config.api import router
from governance.people.auth import StewardLoginView
from governance.people.views import StewardLogoutView, backchannel_logout
from governance.policy.api import PolicyView
from inventory.views.credentials import credential_export, credential_list
from workload.api import DelegationView, IntrospectionView, TokenExchangeView

admin.site.site_header = "Steward administration"
admin.site.site_title = "Steward admin"

urlpatterns = [
    path("", include("governance.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("inventory/", include("inventory.urls")),
    path("credentials/", credential_list, name="credentials"),
    path("credentials/export.csv", credential_export, name="credentials-export"),
    path("connectors/", include("connectors.urls")),
    path("", include("approvals.urls")),
    path("accounts/login/", StewardLoginView.as_view(), name="login"),
    path("accounts/logout/", StewardLogoutView.as_view(), name="logout"),
    # Password reset: only with a mail server, throttled, links from STEWARD_BASE_URL (before
    # django.contrib.auth.urls, whose reset routes these replace).
    path("accounts/", include("governance.people.password_reset")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oidc/backchannel-logout/", backchannel_logout, name="oidc_backchannel_logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("scim/", include("governance.people.scim.urls")),  # SCIM 2.0 provisioning at /scim/v2/
    path("admin/", admin.site.urls),
    path("api/v1/policy/", PolicyView.as_view(), name="api-policy"),
    # Workload identity (RFC 8693 exchange, delegation, RFC 7662 introspection): before the router.
    path("api/v1/token/", TokenExchangeView.as_view(), name="api-token"),
    path("api/v1/token/delegation/", DelegationView.as_view(), name="api-token-delegation"),
    path("api/v1/token/introspect/", IntrospectionView.as_view(), name="api-token-introspect"),
    path("workload/", include("workload.urls")),
    # Slack's interactivity requests (signature checked, no login) and the linking page (issue 28).
    path("integrations/", include("chat.urls")),
    # Namespaced: the router's names (exception-detail, approval-detail, …) must not shadow the pages'.
    path("api/v1/", include((router.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Redoc renders with styled-components (inline <style>) and a blob: worker: this page alone
    # relaxes style-src; script-src stays 'self'.
    path(
        "api/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="api-redoc",
    ),
]

# JSON under /api/, the styled pages elsewhere.
handler404 = "governance.views.page_not_found"
handler500 = "governance.views.server_error"
