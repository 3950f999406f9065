from django.urls import path

from approvals.views import inbox, intake

urlpatterns = [
    path("intake/", intake.my_requests, name="intake-mine"),
    path("intake/new/", intake.intake_new, name="intake-new"),
    path("intake/preview/", intake.risk_preview, name="intake-preview"),
    path("intake/grant-row/", intake.grant_row, name="intake-grant-row"),
    path("intake/<int:pk>/", intake.intake_detail, name="intake-detail"),
    path("intake/<int:pk>/edit/", intake.intake_edit, name="intake-edit"),
    path("intake/<int:pk>/decide/", intake.intake_decide, name="intake-decide"),
    path("intake/<int:pk>/comment/", intake.intake_comment, name="intake-comment"),
    *[
        path(f"intake/<int:pk>/{action}/", intake.intake_action, {"action": action}, name=f"intake-{action}")
        for action in intake.INTAKE_ACTIONS
    ],
    path("approvals/", inbox.inbox, name="approvals-inbox"),
    path("approvals/mine/", intake.my_requests, name="approvals-mine"),
    path("approvals/<int:pk>/", inbox.approval_detail, name="approval-detail"),
]
