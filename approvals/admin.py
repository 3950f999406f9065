"""Read-only admin views: every change goes through the services (and the audit log)."""

from django.contrib import admin

from approvals.models import ApprovalRequest, ApprovalStep, Comment, IntakeRequest
from governance.admin_common import ReadOnlyAdmin


class StepInline(admin.TabularInline):
    model = ApprovalStep
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ApprovalStep._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "title", "requester", "tier", "state", "submitted_at", "last_activity_at"]
    list_filter = ["kind", "state", "tier"]
    search_fields = ["title", "requester__username"]
    inlines = [StepInline]


@admin.register(IntakeRequest)
class IntakeRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "kind", "requester", "owner", "state", "risk_tier", "created_at"]
    list_filter = ["state", "risk_tier", "kind"]
    search_fields = ["name", "requester__username", "owner__username"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "author_label", "event", "created_at"]
    list_filter = ["event"]
