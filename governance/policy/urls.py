from django.urls import path

from governance.policy import views


def _decision_paths(prefix: str, view, name: str) -> list:
    """A two-person proposal's approve and reject routes: the view is told which by `decision`."""
    return [
        path(f"{prefix}{decision}/", view, {"decision": decision}, name=f"{name}-{decision}")
        for decision in ("approve", "reject")
    ]


urlpatterns = [
    path("policy/", views.overview, name="policy"),
    path("policy/versions/new/", views.version_new, name="policy-version-new"),
    path("policy/versions/<int:version>/", views.version_detail, name="policy-version"),
    path("policy/versions/<int:version>/diff/", views.version_diff, name="policy-version-diff"),
    path("policy/versions/<int:version>/activate/", views.version_activate, name="policy-version-activate"),
    *_decision_paths(
        "policy/versions/<int:version>/activation/", views.version_activation_decide, "policy-activation"
    ),
    path("policy/test-cases/", views.test_case_add, name="policy-test-add"),
    path("policy/test-cases/<int:pk>/delete/", views.test_case_delete, name="policy-test-delete"),
    path("policy/try/", views.try_request, name="policy-try"),
    path("policy/document/", views.document_update, name="policy-document"),
    path("policy/document/edit/", views.document_edit, name="policy-document-edit"),
    path("policy/document/<int:version>/", views.document_version, name="policy-document-version"),
    *_decision_paths("policy/document/<int:version>/", views.document_decide, "policy-document"),
]
