from django.urls import path

from workload import views

app_name = "workload"

urlpatterns = [
    path("", views.issuer_list, name="issuers"),
    path("issuers/<int:pk>/<str:verb>/", views.issuer_decide, name="issuer-decide"),
    path("receivers/", views.receiver_add, name="receiver-add"),
    path("receivers/<int:pk>/remove/", views.receiver_remove, name="receiver-remove"),
    path("identities/<int:pk>/bindings/", views.binding_create, name="binding-create"),
    path("bindings/<int:pk>/revoke/", views.binding_revoke, name="binding-revoke"),
]
