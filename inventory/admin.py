"""The inventory in the admin is read-only: every change goes through the audited services."""

from django.contrib import admin

from governance.admin_common import ReadOnlyAdmin
from inventory.models import Credential, Grant, Identity, UsageEvent


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CredentialInline(GrantInline):
    model = Credential


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "status", "risk_tier", "owner", "team", "last_used_at")
    list_filter = ("status", "kind", "risk_tier")
    list_select_related = ("owner", "team")
    search_fields = ("name", "vendor", "product", "external_id")
    inlines = [GrantInline, CredentialInline]


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("identity", "at", "action", "resource_name", "after_revocation", "out_of_scope")
    list_select_related = ("identity",)
