from django.contrib import admin

from governance.admin_common import ReadOnlyAdmin
from governance.findings.models import Finding


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    """Read-only: findings change only through the sweep (which audits every change)."""

    list_display = ("rule", "identity", "severity", "status", "first_seen_at", "last_seen_at", "resolved_at")
    list_filter = ("status", "rule", "severity")
    list_select_related = ("identity",)
    search_fields = ("identity__name",)
