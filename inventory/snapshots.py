"""How an identity and its grants are written down in audit events, imports and forms: people by
username, the team by slug, lists as lists."""

from __future__ import annotations

from typing import Any

from inventory.models import DESCRIPTIVE_FIELDS, Grant, Identity

IDENTITY_FIELDS = (
    *DESCRIPTIVE_FIELDS,
    "risk_tier",
    "risk_reasons",
    "source",
    "external_id",
)


def snapshot(identity: Identity) -> dict[str, Any]:
    """Every editable field (IDENTITY_FIELDS) plus status: an edit's audit diff is taken from this,
    so a field missing here would be changed with an empty before/after."""
    return {name: snapshot_value(identity, name) for name in (*IDENTITY_FIELDS, "status")}


def snapshot_value(identity: Identity, name: str) -> Any:
    """A field as snapshots, audit events and forms write it: people by username, the team by slug,
    lists as lists; the rest as stored. An intake request's answers are written the same way."""
    if name in ("owner", "backup_owner"):
        person = getattr(identity, name) if getattr(identity, f"{name}_id") else None
        return person.username if person else None
    if name == "team":
        return identity.team.slug if identity.team_id else None
    value = getattr(identity, name)
    return list(value or []) if name in ("environments", "risk_reasons", "grants") else value


def grant_snapshot(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.pk,
        "resource_kind": grant.resource_kind,
        "resource_name": grant.resource_name,
        "actions": list(grant.actions),
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
    }
