"""`static_credential_where_federation_exists`: an identity with an active trust binding that still
holds a live static credential (a key, a personal access token, an OAuth token, a password). Static
tokens become the exception: the finding names each one to revoke. One query, set-based."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from governance.findings.models import Rule, Severity
from governance.findings.rules import EVIDENCE_LIST_MAX, HIGH_TIERS, Hit
from governance.jobs import registry
from inventory.models import Credential, Identity
from workload.models import TrustBinding

STATIC_KINDS = (
    Credential.Kind.STATIC_KEY,
    Credential.Kind.PAT,
    Credential.Kind.OAUTH_TOKEN,
    Credential.Kind.PASSWORD,
)


def static_where_federated(now: datetime) -> Iterator[Hit]:
    bound = TrustBinding.objects.filter(identity=OuterRef("identity_id"), state=TrustBinding.State.ACTIVE)
    rows = (
        Credential.objects.filter(kind__in=STATIC_KINDS, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(Exists(bound))
        .exclude(identity__status=Identity.Status.DECOMMISSIONED)
        .order_by("identity_id", "id")
        .values_list("identity_id", "identity__name", "identity__risk_tier", "id", "kind", "label")
    )
    grouped: dict[int, dict] = {}
    for identity_id, name, tier, pk, kind, label in rows:
        entry = grouped.setdefault(identity_id, {"name": name, "tier": tier, "credentials": []})
        entry["credentials"].append({"id": pk, "kind": kind, "label": label})
    for identity_id, entry in grouped.items():
        count = len(entry["credentials"])
        yield Hit(
            identity_id,
            Severity.HIGH if entry["tier"] in HIGH_TIERS else Severity.MEDIUM,
            {
                "summary": f"{count} static credential(s) still live although the identity exchanges "
                "short-lived tokens from a trusted issuer: revoke them",
                "count": count,
                "credentials": entry["credentials"][:EVIDENCE_LIST_MAX],
            },
            entry["name"],
        )


def register() -> None:
    registry.register_finding_source(
        Rule.STATIC_CREDENTIAL_WHERE_FEDERATION_EXISTS, "workload", static_where_federated
    )
