"""Helpers for the exceptions tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from governance.exceptions import services
from tests.factories import CredentialFactory, IdentityFactory

RULE = "credential_rotation_overdue"


def old_key_identity(owner, **kwargs):
    """An identity with a static key never rotated for two years (breaks credential_rotation_overdue)."""
    identity = IdentityFactory(owner=owner, **kwargs)
    two_years = timezone.now() - timedelta(days=730)
    CredentialFactory(identity=identity, issued_at=two_years, last_rotated_at=two_years)
    return identity


def request(actor, identity, *, days=30, rule=RULE, **extra):
    data = {
        "identity": identity,
        "rule": rule,
        "justification": "Legacy bot cannot use OIDC until the vendor ships it.",
        "compensating_controls": "Key scoped to one repo; IP allow-list.",
        "expires_at": timezone.now() + timedelta(days=days),
    }
    data.update(extra)
    return services.request_exception(actor, **data)
