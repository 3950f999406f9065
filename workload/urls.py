from django.urls import path

from workload import views

app_name = "workload"

urlpatterns = [
    path("", views.issuer_list, name="issuers"),
    *[
        path(f"issuers/<int:pk>/{verb}/", views.issuer_decide, {"verb": verb}, name=f"issuer-{verb}")
        for verb in views.VERBS
    ],
    path("receivers/", views.receiver_add, name="receiver-add"),
    path("receivers/<int:pk>/remove/", views.receiver_remove, name="receiver-remove"),
    path("identities/<int:pk>/bindings/", views.binding_create, name="binding-create"),
    path("bindings/<int:pk>/revoke/", views.binding_revoke, name="binding-revoke"),
]
