from django.contrib import admin

from governance.findings.models import Finding


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    """Read-only: findings change only through the sweep (which audits every change)."""

    list_display = ("rule", "identity", "severity", "status", "first_seen_at", "last_seen_at", "resolved_at")
    list_filter = ("status", "rule", "severity")
    list_select_related = ("identity",)
    search_fields = ("identity__name",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
