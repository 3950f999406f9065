from django.urls import path

from governance.exceptions import views

urlpatterns = [
    path("exceptions/", views.exception_list, name="exceptions"),
    path("exceptions/new/", views.exception_new, name="exception-new"),
    path("exceptions/<int:pk>/", views.exception_detail, name="exception-detail"),
    path("exceptions/<int:pk>/decide/", views.exception_decide, name="exception-decide"),
    path("exceptions/<int:pk>/revoke/", views.exception_revoke, name="exception-revoke"),
]
