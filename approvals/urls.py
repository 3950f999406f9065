from django.urls import path

from approvals.views import inbox, intake

urlpatterns = [
    path("intake/", intake.my_requests, name="intake-mine"),
    path("intake/new/", intake.intake_new, name="intake-new"),
    path("intake/preview/", intake.risk_preview, name="intake-preview"),
    path("intake/grant-row/", intake.grant_row, name="intake-grant-row"),
    path("intake/<int:pk>/", intake.intake_detail, name="intake-detail"),
    path("intake/<int:pk>/edit/", intake.intake_edit, name="intake-edit"),
    path("intake/<int:pk>/submit/", intake.intake_submit, name="intake-submit"),
    path("intake/<int:pk>/withdraw/", intake.intake_withdraw, name="intake-withdraw"),
    path("intake/<int:pk>/decide/", intake.intake_decide, name="intake-decide"),
    path("intake/<int:pk>/comment/", intake.intake_comment, name="intake-comment"),
    path("intake/<int:pk>/raise-tier/", intake.intake_raise_tier, name="intake-raise-tier"),
    path("approvals/", inbox.inbox, name="approvals-inbox"),
    path("approvals/mine/", intake.my_requests, name="approvals-mine"),
    path("approvals/<int:pk>/", inbox.approval_detail, name="approval-detail"),
]
