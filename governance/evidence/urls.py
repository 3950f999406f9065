from django.urls import path

from governance.evidence import views

urlpatterns = [
    path("", views.evidence_home, name="evidence"),
    path("controls/", views.control_list, name="evidence-controls"),
    path("verify/", views.verify_upload, name="evidence-verify"),
    path("evidence-exports/<int:pk>/row/", views.export_row, name="evidence-export-row"),
    path("evidence-exports/<int:pk>/download/", views.export_download, name="evidence-export-download"),
]
