from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link


class Role(models.TextChoices):
    """The four roles, each a Django group of the same name (created by a migration)."""

    OWNER = "Tool owner", _("Tool owner")
    IAM = "IAM approver", _("IAM approver")
    SECURITY = "Security admin", _("Security admin")
    AUDITOR = "Auditor", _("Auditor")


class Team(models.Model):
    slug = models.SlugField(unique=True, help_text=_("Short name used in the API and imports."))
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    team = optional_link(Team, on_delete=models.SET_NULL, related_name="members")
    manager = optional_link("self", on_delete=models.SET_NULL, related_name="reports")
    # Set when the identity provider's SCIM client created or adopted this person: their roles then
    # come from SCIM Groups alone, and their first SSO login binds by this value (not by name).
    scim_external_id = models.CharField(
        _("SCIM externalId"), max_length=255, null=True, blank=True, unique=True
    )
    scim_managed = models.BooleanField(
        _("managed by SCIM"),
        default=False,
        help_text=_("Provisioned by the identity provider's SCIM client; SCIM Groups set the roles."),
    )
    # The e-mail addresses as SCIM sent them (value, type, primary, display), so that what the
    # identity provider wrote is what it reads back; `email` holds the primary one.
    scim_emails = models.JSONField(_("SCIM emails"), default=list, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @cached_property
    def roles(self) -> frozenset[str]:
        """Names of the role groups this user holds (one query, cached on the instance)."""
        if not self.is_active:
            return frozenset()
        return frozenset(self.groups.values_list("name", flat=True))

    def has_role(self, *roles: str) -> bool:
        if self.is_superuser and self.is_active:
            return True
        return bool(self.roles.intersection(roles))

    @property
    def is_iam(self) -> bool:
        return self.has_role(Role.IAM)

    @property
    def is_security(self) -> bool:
        return self.has_role(Role.SECURITY)

    @property
    def is_auditor(self) -> bool:
        return Role.AUDITOR in self.roles and not self.is_superuser

    @property
    def is_governor(self) -> bool:
        """IAM or Security: may administer the inventory and decide approvals."""
        return self.has_role(Role.IAM, Role.SECURITY)

    @property
    def can_read_all(self) -> bool:
        """Governors and auditors read everything; owners read the inventory too."""
        return self.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR, Role.OWNER)


class ApiToken(models.Model):
    """A bearer token for machines. Only its SHA-256 is stored; the value is shown once at issue.

    Each token is itself a non-human identity: `identity` links it to its inventory entry.
    """

    class Scope(models.TextChoices):
        READ = "read", _("read")
        WRITE = "write", _("write")
        SCIM = "scim", _("SCIM provisioning")
        REPORT = "report", _("usage reports for any identity")

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    identity = optional_link(
        "inventory.Identity", on_delete=models.SET_NULL, related_name="api_token", one_to_one=True
    )
    name = models.CharField(max_length=200, blank=True)
    key_prefix = models.CharField(max_length=16, unique=True, help_text=_("First characters, safe to show."))
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user.username}, {self.scope})"


class SsoBinding(models.Model):
    """A person signed in by single sign-on, bound to the identity provider's `(issuer, sub)`.

    Sign-in finds the person by this pair only, never by username or e-mail: an IdP account that
    happens to share a local account's name must not become it (issue 17's takeover)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="sso_binding")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(_("subject (sub)"), max_length=255)
    bound_by = models.CharField(max_length=200, help_text=_("Who made the binding (a person or system:sso)."))
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_binding_issuer_subject_unique")
        ]
        verbose_name = _("SSO binding")

    def __str__(self) -> str:
        return f"{self.user.username} = {self.subject} @ {self.issuer}"


class SignedInSession(models.Model):
    """One signed-in browser session, so that Steward can end a person's sessions at once
    (deactivation, SCIM, back-channel logout). The session data itself stays in the session store."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signed_in_sessions")
    sso_issuer = models.CharField(max_length=500, blank=True)
    sso_sid = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user.username} session since {self.created_at:%Y-%m-%d %H:%M}"


class ScimGroup(models.Model):
    """A group the identity provider pushes by SCIM. Its members' roles come from STEWARD_OIDC_ROLE_MAP,
    matched by the group's displayName or externalId (e.g. an Entra group object id)."""

    display_name = models.CharField(max_length=255, unique=True)
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(User, related_name="scim_groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("SCIM group")

    def __str__(self) -> str:
        return self.display_name
