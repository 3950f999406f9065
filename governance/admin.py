"""The governance app's admin pages, and those of its feature packages (findings, jobs), which Django
does not look for by itself: it imports only each app's own `admin` module."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from governance.admin_common import ReadOnlyAdmin
from governance.findings import admin as _findings_admin  # noqa: F401
from governance.jobs import admin as _jobs_admin  # noqa: F401
from governance.models import (
    ApiToken,
    AuditEvent,
    PolicyVersion,
    ScimGroup,
    SignedInSession,
    SsoBinding,
    Team,
    User,
)
from governance.people import services as people_services


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "display_name", "email", "team", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "groups", "team")
    list_select_related = ("team",)
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Steward", {"fields": ("display_name", "team", "manager")}),
        ("Identity provider", {"fields": ("scim_managed", "scim_external_id")}),
    )
    readonly_fields = ("scim_managed", "scim_external_id")
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        ("Steward", {"fields": ("email", "display_name", "team")}),
    )

    def save_model(self, request, obj, form, change):
        people_services.save_user_from_admin(request.user, obj, form, change)

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        people_services.record_role_change(request.user, form.instance, before)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "actor", "verb", "subject_type", "subject_label")
    list_filter = ("verb", "actor_kind")
    search_fields = ("actor", "subject_label", "verb")


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "is_active", "created_by", "created_at")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("key_prefix", "user", "scope", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_select_related = ("user",)
    exclude = ("token_hash",)


class SsoBindingForm(forms.ModelForm):
    class Meta:
        model = SsoBinding
        fields = ("user", "issuer", "subject")

    def clean(self):
        from governance.people.sso import link_problem

        cleaned = super().clean()
        user = cleaned.get("user")
        if user is not None:
            problem = link_problem(
                user, cleaned.get("issuer", "").strip(), cleaned.get("subject", "").strip()
            )
            if problem:
                raise forms.ValidationError(problem)
        return cleaned


@admin.register(SsoBinding)
class SsoBindingAdmin(admin.ModelAdmin):
    """Who each SSO subject is. Adding one links a local account to an IdP subject (the same audited
    service as `manage.py link_sso_account`); deleting one unlinks it."""

    list_display = ("user", "issuer", "subject", "bound_by", "created_at", "last_login_at")
    search_fields = ("user__username", "subject", "issuer")
    list_select_related = ("user",)
    form = SsoBindingForm
    raw_id_fields = ("user",)

    def has_change_permission(self, request, obj=None):
        return False  # a binding is replaced by unlinking and linking again, each audited

    def save_model(self, request, obj, form, change):
        from governance.people.sso import link_account

        obj.pk = link_account(
            request.user, obj.user, issuer=obj.issuer.strip(), subject=obj.subject.strip()
        ).pk

    def delete_model(self, request, obj):
        from governance.people.sso import unlink_account

        unlink_account(request.user, obj)

    def delete_queryset(self, request, queryset):
        for binding in queryset.select_related("user"):
            self.delete_model(request, binding)


@admin.register(ScimGroup)
class ScimGroupAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "external_id", "updated_at")
    search_fields = ("display_name", "external_id")


@admin.register(SignedInSession)
class SignedInSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "sso_issuer", "sso_sid")
    list_select_related = ("user",)
