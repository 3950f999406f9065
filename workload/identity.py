"""The identity page's "Workload identity" panel (bindings, last exchange, live tokens) and its
timeline rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q
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
    # One query for both: exchanges per binding (the access tokens kept, 30 days) and the live ones.
    live_now = Q(revoked_at__isnull=True, expires_at__gt=timezone.now())
    counts = (
        IssuedToken.objects.filter(identity=identity, kind=IssuedToken.Kind.ACCESS)
        .values("binding_id")
        .annotate(n=Count("pk"), live=Count("pk", filter=live_now))
        .order_by()
    )
    by_binding = {row["binding_id"]: row for row in counts}
    for binding in bindings:
        binding.exchange_count = by_binding.get(binding.pk, {}).get("n", 0)
    live = sum(row["live"] for row in by_binding.values())
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
