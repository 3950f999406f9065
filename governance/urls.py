from django.urls import include, path

from governance import views
from governance.dashboard import views as dashboard_views
from governance.findings import views as findings_views
from governance.lists import views as list_views

urlpatterns = [
    path("", dashboard_views.home, name="home"),
    path("dashboard/card/<slug:name>/", dashboard_views.card, name="dashboard-card"),
    path("dashboard/trends.json", dashboard_views.trends_json, name="dashboard-trends"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("lists/<slug:list_key>/columns/", list_views.list_columns, name="list-columns"),
    path("lists/<slug:list_key>/filters/", list_views.saved_view_create, name="saved-view-create"),
    path("lists/<slug:list_key>/filters/delete/", list_views.saved_view_delete, name="saved-view-delete"),
    path("", include("governance.policy.urls")),
    path("", include("governance.decisions.urls")),
    path("", include("governance.exceptions.urls")),
    path("findings/", findings_views.finding_list, name="findings"),
    path("findings/export.csv", findings_views.finding_export, name="findings-export"),
    path("evidence/", include("governance.evidence.urls")),
    path("", include("governance.reviews.urls")),
]
