from django.urls import path

from governance.policy import views

urlpatterns = [
    path("policy/", views.overview, name="policy"),
    path("policy/versions/new/", views.version_new, name="policy-version-new"),
    path("policy/versions/<int:version>/", views.version_detail, name="policy-version"),
    path("policy/versions/<int:version>/diff/", views.version_diff, name="policy-version-diff"),
    path("policy/versions/<int:version>/activate/", views.version_activate, name="policy-version-activate"),
    path(
        "policy/versions/<int:version>/activation/approve/",
        views.version_activation_decide,
        {"decision": "approve"},
        name="policy-activation-approve",
    ),
    path(
        "policy/versions/<int:version>/activation/reject/",
        views.version_activation_decide,
        {"decision": "reject"},
        name="policy-activation-reject",
    ),
    path("policy/test-cases/", views.test_case_add, name="policy-test-add"),
    path("policy/test-cases/<int:pk>/delete/", views.test_case_delete, name="policy-test-delete"),
    path("policy/try/", views.try_request, name="policy-try"),
    path("policy/document/", views.document_update, name="policy-document"),
    path("policy/document/edit/", views.document_edit, name="policy-document-edit"),
    path("policy/document/<int:version>/", views.document_version, name="policy-document-version"),
    path(
        "policy/document/<int:version>/approve/",
        views.document_decide,
        {"decision": "approve"},
        name="policy-document-approve",
    ),
    path(
        "policy/document/<int:version>/reject/",
        views.document_decide,
        {"decision": "reject"},
        name="policy-document-reject",
    ),
]
