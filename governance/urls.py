from django.urls import include, path

from governance import views
from governance.dashboard import views as dashboard_views
from governance.findings import views as findings_views

urlpatterns = [
    path("", dashboard_views.home, name="home"),
    path("dashboard/card/<slug:name>/", dashboard_views.card, name="dashboard-card"),
    path("dashboard/trends.json", dashboard_views.trends_json, name="dashboard-trends"),
    path("audit/", views.audit_log, name="audit-log"),
    path("", include("governance.policy.urls")),
    path("", include("governance.decisions.urls")),
    path("", include("governance.exceptions.urls")),
    path("findings/", findings_views.finding_list, name="findings"),
    path("evidence/", include("governance.evidence.urls")),
    path("", include("governance.reviews.urls")),
]
