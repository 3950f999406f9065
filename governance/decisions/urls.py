from django.urls import path

from governance.decisions import views

urlpatterns = [
    path("decisions/", views.decisions_log, name="decisions-log"),
    path("access-requests/", views.access_requests, name="access-requests"),
    path("access-requests/<int:pk>/", views.access_request_detail, name="access-request-detail"),
    path("access-requests/<int:pk>/decide/", views.access_request_decide, name="access-request-decide"),
    path("access-requests/<int:pk>/end/", views.access_request_end, name="access-request-end"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
]
