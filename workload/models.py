"""Trusted issuers, trust bindings, the tokens Steward issued, and Security Event Token deliveries.

Nothing here is a secret: a token Steward issues is a signed JWT whose private key lives in a file
(governance.signing); the database keeps its `jti`, whom it names and whether it still stands.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link, person_on_record


class IssuerTemplate(models.TextChoices):
    GITHUB_ACTIONS = "github_actions", _("GitHub Actions")
    GITLAB_CI = "gitlab_ci", _("GitLab CI")
    KUBERNETES = "kubernetes", _("Kubernetes service accounts")
    SPIFFE = "spiffe", _("SPIFFE trust domain (JWT-SVID)")
    CUSTOM = "custom", _("other OIDC issuer")


class TrustedIssuer(models.Model):
    """An OpenID Connect issuer whose signed tokens Steward accepts in a token exchange.

    Security proposes one; it is trusted only once another person (Security or IAM, never the
    proposer) approves it, like a policy version."""

    class State(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        RETIRED = "retired", _("retired")

    TRANSITIONS = {
        State.PROPOSED: {State.ACTIVE, State.REJECTED},
        State.ACTIVE: {State.RETIRED},
        State.REJECTED: set(),
        State.RETIRED: set(),
    }

    name = models.CharField(_("name"), max_length=200, unique=True)
    template = models.CharField(
        _("template"), max_length=20, choices=IssuerTemplate.choices, default=IssuerTemplate.CUSTOM
    )
    issuer = models.CharField(
        _("issuer (iss)"), max_length=500, help_text=_("Exactly as the tokens' `iss` claim says it.")
    )
    jwks_uri = models.URLField(
        _("JWKS URI"), max_length=500, blank=True, help_text=_("Where the issuer publishes its keys.")
    )
    jwks = models.JSONField(
        _("pasted JWKS"), null=True, blank=True, help_text=_("The keys themselves, when there is no URI.")
    )
    audience = models.CharField(
        _("audience (aud)"), max_length=500, help_text=_("The `aud` the workload asks its issuer for.")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("proposed by")
    )
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    decided_by = person_on_record()
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # The keys last read from `jwks_uri` (public keys, not secrets), and when.
    jwks_cache = models.JSONField(null=True, blank=True)
    jwks_fetched_at = models.DateTimeField(null=True, blank=True)
    jwks_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # One live entry per issuer URL: the exchange finds the issuer by `iss`.
            models.UniqueConstraint(
                fields=["issuer"], condition=Q(state__in=["proposed", "active"]), name="issuer_live_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer})"


class TrustBinding(models.Model):
    """Exact claim values (e.g. `{"sub": "repo:acme/payments:environment:prod"}`) that make a token
    from a trusted issuer stand for one identity. Part of the identity's approved scope."""

    class State(models.TextChoices):
        PENDING = "pending", _("awaiting approval")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        REVOKED = "revoked", _("revoked")

    TRANSITIONS = {
        State.PENDING: {State.ACTIVE, State.REJECTED},
        State.ACTIVE: {State.REVOKED},
        State.REJECTED: set(),
        State.REVOKED: set(),
    }

    issuer = models.ForeignKey(TrustedIssuer, on_delete=models.PROTECT, related_name="bindings")
    identity = models.ForeignKey(
        "inventory.Identity", on_delete=models.CASCADE, related_name="trust_bindings"
    )
    claims = models.JSONField(_("claims"), help_text=_("Claim name → the exact value the token must carry."))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    reason = models.TextField(_("reason"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)
    # Moved forward at most once a minute (a write per exchange would serialise busy CI fleets); the
    # exchanges themselves are the access tokens' rows.
    last_exchange_at = models.DateTimeField(_("last exchange"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["issuer", "state"], name="binding_issuer_state")]

    def __str__(self) -> str:
        claims = ", ".join(f"{k}={v}" for k, v in sorted((self.claims or {}).items()))
        return f"{self.issuer.name}: {claims}"


class IssuedToken(models.Model):
    """A token Steward signed: an access token for a workload (at most 15 minutes) or a person's
    delegation token. Its row says whether it still stands; the value itself is never kept."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("access token")
        DELEGATION = "delegation", _("delegation token")

    jti = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    identity = optional_link("inventory.Identity", on_delete=models.CASCADE, related_name="issued_tokens")
    user = optional_link(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    binding = optional_link(TrustBinding, on_delete=models.SET_NULL, related_name="issued_tokens")
    parent = optional_link("self", on_delete=models.SET_NULL)
    chain = models.JSONField(default=list, help_text=_("Who is behind the call, from intent to execution."))
    subject_jti = models.CharField(max_length=200, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [
            models.Index(fields=["identity", "expires_at"], name="issuedtoken_identity_live"),
            models.Index(fields=["expires_at"], name="issuedtoken_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.jti[:8]}…"


class SeenSubjectToken(models.Model):
    """A workload token already exchanged: the same `jti` is refused until it expires (replay)."""

    issuer = models.ForeignKey(TrustedIssuer, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="seen_subject_token_unique")]

    def __str__(self) -> str:
        return f"{self.jti[:16]}… seen until {self.expires_at:%Y-%m-%d %H:%M}"


class SetReceiver(models.Model):
    """Where Steward pushes Security Event Tokens (RFC 8935): a gateway, an agent runtime, a SIEM."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    endpoint = models.URLField(_("push endpoint"), max_length=500)
    audience = models.CharField(_("audience (aud)"), max_length=500)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SetDelivery(models.Model):
    """One signed SET on its way to one receiver: the outbox. Retried until acknowledged (202)."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    receiver = models.ForeignKey(SetReceiver, on_delete=models.CASCADE, related_name="deliveries")
    jti = models.CharField(max_length=64, unique=True)
    event_types = models.JSONField(default=list)
    identity = optional_link("inventory.Identity", on_delete=models.SET_NULL)
    token = models.TextField(help_text=_("The signed SET (public content, signed by Steward)."))
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="setdelivery_due")]

    def __str__(self) -> str:
        return f"SET {self.jti[:8]}… to {self.receiver_id} ({self.state})"
