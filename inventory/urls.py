from django.urls import path

from inventory import (
    views,
    views_activation,
    views_bulk,
    views_import,
    views_ownership,
    views_reactivation,
    views_scope,
)

app_name = "inventory"

urlpatterns = [
    path("", views.identity_list, name="list"),
    path("export.csv", views.identity_export, name="export"),
    path("triage/", views.triage, name="triage"),
    path("import/", views_import.import_page, name="import"),
    path("transfers/", views_ownership.transfer_inbox, name="transfers"),
    *[
        path(
            f"transfers/<int:pk>/{action}/",
            views_ownership.transfer_decide,
            {"action": action},
            name=f"transfer-{action}",
        )
        for action in views_ownership.TRANSFER_ACTIONS
    ],
    path("orphans/", views_ownership.orphans, name="orphans"),
    path("reassign/", views_bulk.bulk_reassign, name="bulk-reassign"),
    path("scope-changes/<int:pk>/", views_scope.scope_change_detail, name="scope-change"),
    path("scope-changes/<int:pk>/decide/", views_scope.scope_change_decide, name="scope-change-decide"),
    path("<int:pk>/scope/", views_scope.scope_change_new, name="scope-change-new"),
    path("reactivations/<int:pk>/", views_reactivation.reactivation_detail, name="reactivation"),
    path(
        "reactivations/<int:pk>/decide/", views_reactivation.reactivation_decide, name="reactivation-decide"
    ),
    path("<int:pk>/reactivation/", views_reactivation.reactivation_new, name="reactivation-new"),
    path("activations/<int:pk>/", views_activation.activation_detail, name="activation"),
    path("activations/<int:pk>/decide/", views_activation.activation_decide, name="activation-decide"),
    path("<int:pk>/transfer/", views_ownership.transfer_propose, name="transfer"),
    path("<int:pk>/", views.identity_detail, name="detail"),
    path("<int:pk>/edit/", views.identity_edit, name="edit"),
    path("<int:pk>/activate/", views.activate, name="activate"),
    *[
        path(f"<int:pk>/{action}/", views.identity_transition, {"action": action}, name=action)
        for action in views.TRANSITIONS
    ],
    path("<int:pk>/credentials/new/", views.credential_new, name="credential-new"),
    path("credentials/<int:pk>/rotate/", views.credential_rotate, name="credential-rotate"),
    path("credentials/<int:pk>/confirm-revocation/", views.confirm_revocation, name="confirm-revocation"),
]
