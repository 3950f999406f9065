from django.urls import path

from approvals.views import activation, reactivation, scope
from inventory.views import bulk, identities, importing, ownership

app_name = "inventory"

urlpatterns = [
    path("", identities.identity_list, name="list"),
    path("export.csv", identities.identity_export, name="export"),
    path("triage/", identities.triage, name="triage"),
    path("import/", importing.import_page, name="import"),
    path("transfers/", ownership.transfer_inbox, name="transfers"),
    *[
        path(
            f"transfers/<int:pk>/{action}/",
            ownership.transfer_decide,
            {"action": action},
            name=f"transfer-{action}",
        )
        for action in ownership.TRANSFER_ACTIONS
    ],
    path("orphans/", ownership.orphans, name="orphans"),
    path("reassign/", bulk.bulk_reassign, name="bulk-reassign"),
    path("scope-changes/<int:pk>/", scope.scope_change_detail, name="scope-change"),
    path("scope-changes/<int:pk>/decide/", scope.scope_change_decide, name="scope-change-decide"),
    path("<int:pk>/scope/", scope.scope_change_new, name="scope-change-new"),
    path("reactivations/<int:pk>/", reactivation.reactivation_detail, name="reactivation"),
    path("reactivations/<int:pk>/decide/", reactivation.reactivation_decide, name="reactivation-decide"),
    path("<int:pk>/reactivation/", reactivation.reactivation_new, name="reactivation-new"),
    path("activations/<int:pk>/", activation.activation_detail, name="activation"),
    path("activations/<int:pk>/decide/", activation.activation_decide, name="activation-decide"),
    path("<int:pk>/transfer/", ownership.transfer_propose, name="transfer"),
    path("<int:pk>/", identities.identity_detail, name="detail"),
    path("<int:pk>/edit/", identities.identity_edit, name="edit"),
    path("<int:pk>/activate/", identities.activate, name="activate"),
    *[
        path(f"<int:pk>/{action}/", identities.identity_transition, {"action": action}, name=action)
        for action in identities.LIFECYCLE_ACTIONS
    ],
    path("<int:pk>/credentials/new/", identities.credential_new, name="credential-new"),
    path("credentials/<int:pk>/rotate/", identities.credential_rotate, name="credential-rotate"),
    path(
        "credentials/<int:pk>/confirm-revocation/", identities.confirm_revocation, name="confirm-revocation"
    ),
]
