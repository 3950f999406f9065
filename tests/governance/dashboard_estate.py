"""A known estate for the dashboard tests: every figure has a few rows in it, scaled by `scale`.

Credentials cover every age band (a day either side of the band edges, a rotation a little ahead of
the clock, none dated), static and federated kinds in both teams, unrevoked ones of decommissioned
identities (not live), and revocations pending and confirmed, on live and decommissioned identities."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from governance.findings.models import Finding
from governance.people.models import Role
from inventory.models import Credential, Identity
from tests.factories import CredentialFactory, IdentityFactory, UserFactory

KINDS = [Identity.Kind.AI_ASSISTANT, Identity.Kind.AI_AGENT, Identity.Kind.SERVICE_ACCOUNT, Identity.Kind.BOT]
TIERS = ["low", "medium", "high", "critical"]
STATUSES = ["active", "active", "active", "suspended", "discovered", "decommissioned"]
CRED_KINDS = [Credential.Kind.STATIC_KEY, Credential.Kind.OIDC_FEDERATION, Credential.Kind.PAT]
AGES = [10, 100, 200, 400, None]
FINDINGS = [("stale_unused", "high"), ("orphaned_owner", "critical"), ("review_overdue", "medium")]


def build_estate(owner, owner2, scale: int = 1) -> None:
    now = timezone.now()
    today = timezone.localdate()
    gone = UserFactory(username="gone-owner", roles=[Role.OWNER], team=owner.team, is_active=False)
    n = 0
    for _round in range(scale):
        made = []
        for i in range(12):
            n += 1
            who = [owner, owner2, gone, None][i % 4]
            used = [None, 5, 50, 120][(i + n) % 4]
            identity = IdentityFactory(
                name=f"estate-{n}",
                kind=KINDS[i % len(KINDS)],
                risk_tier=TIERS[(i // 2) % 4],
                status=STATUSES[i % len(STATUSES)],
                owner=who,
                team=(who.team if who else owner.team),
                vendor=["Anthropic", "OpenAI", ""][i % 3],
                model_name=["claude-sonnet-4", "gpt-5", ""][i % 3],
                last_used_at=(now - timedelta(days=used)) if used is not None else None,
                next_review_due=today + timedelta(days=[-3, 30, 0][i % 3]) if i % 5 else None,
            )
            made.append(identity)
            age = AGES[i % len(AGES)]
            CredentialFactory(
                identity=identity,
                kind=CRED_KINDS[i % 3],
                issued_at=(now - timedelta(days=age)) if age is not None else None,
                last_rotated_at=(now - timedelta(days=age - 5)) if age and i % 2 else None,
            )
            if i % 4 == 0:
                CredentialFactory(
                    identity=identity,
                    revoked_at=now - timedelta(hours=10),
                    revocation_confirmed_at=(now - timedelta(hours=4)) if i % 8 == 0 else None,
                )
            rule, severity = FINDINGS[i % 3]
            if i % 2 == 0:
                Finding.objects.create(rule=rule, identity=identity, severity=severity)
            else:
                Finding.objects.create(
                    rule=rule, identity=identity, severity=severity, status=Finding.Status.RESOLVED
                )
        _edge_credentials(made, now)


def _edge_credentials(made: list[Identity], now) -> None:
    """Credentials at the edges the figures and the credentials list must agree on."""
    payments_active, platform_active, platform_suspended = made[1], made[2], made[3]
    payments_gone = made[5]  # decommissioned
    assert payments_gone.status == Identity.Status.DECOMMISSIONED
    day, hour = timedelta(days=1), timedelta(hours=1)
    CredentialFactory(
        identity=payments_active, kind=Credential.Kind.SPIFFE_SVID, last_rotated_at=now - 30 * day
    )
    CredentialFactory(
        identity=payments_active, kind=Credential.Kind.PASSWORD, issued_at=now - 91 * day - hour
    )
    CredentialFactory(  # rotated a little ahead of this clock (drift): fresh, not "no date"
        identity=platform_active,
        kind=Credential.Kind.CERTIFICATE,
        issued_at=now - 400 * day,
        last_rotated_at=now + timedelta(minutes=2),
    )
    CredentialFactory(
        identity=platform_active, kind=Credential.Kind.OAUTH_TOKEN, issued_at=now - 365 * day - hour
    )
    CredentialFactory(
        identity=platform_suspended, kind=Credential.Kind.SSH_KEY, issued_at=now - 366 * day - hour
    )
    CredentialFactory(identity=payments_gone, revoked_at=now - 2 * hour)
    CredentialFactory(
        identity=payments_gone, revoked_at=now - 30 * hour, revocation_confirmed_at=now - 6 * hour
    )
