"""The identity page's "Workload identity" panel (bindings, last exchange, live tokens) and its
timeline rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory import extensions
from workload.models import IssuedToken, TrustBinding, TrustedIssuer


@dataclass
class Summary:
    bindings: list
    issuers: list
    live_tokens: int
    last_exchange: object


def _items(identity):
    """One summary (the panel shows its form even with no binding yet)."""
    bindings = list(
        TrustBinding.objects.filter(identity=identity)
        .select_related("issuer")
        .order_by("-created_at", "-pk")[:50]
    )
    issuers = list(TrustedIssuer.objects.filter(state=TrustedIssuer.State.ACTIVE).order_by("name"))
    live = IssuedToken.objects.filter(
        identity=identity,
        kind=IssuedToken.Kind.ACCESS,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
    last = max((b.last_exchange_at for b in bindings if b.last_exchange_at), default=None)
    return [Summary(bindings, issuers, live, last)]


def register() -> None:
    extensions.register_panel(
        extensions.Panel(
            key="workload",
            title=_("Workload identity"),
            template="workload/_identity_panel.html",
            items=_items,
            empty=_("No trust bindings: this identity cannot exchange a workload token for Steward access."),
            help_text=_(
                "Tokens from a trusted issuer (GitHub Actions, GitLab CI, Kubernetes, SPIFFE) that carry "
                "these exact claims are this identity. Steward exchanges them for 15-minute access tokens."
            ),
            order=27,
        )
    )
