from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


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
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )

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

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    identity = models.OneToOneField(
        "inventory.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_token"
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
