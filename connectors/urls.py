from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.connector_list, name="list"),
    path("<int:pk>/", views.connector_detail, name="detail"),
    path("<int:pk>/sync/", views.connector_sync, name="sync"),
    path("<int:pk>/vanished/<int:identity_pk>/confirm/", views.confirm_vanished, name="confirm-vanished"),
    path("runs/<int:pk>/row/", views.run_row, name="run-row"),
]
