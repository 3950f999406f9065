"""Grant expiry: end time-bound grants at their expiry (the `grants` expirer of the `expiry` job)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from governance import audit
from governance.actors import system
from governance.jobs.runner import hold_lock
from inventory import enforcement
from inventory.models import Grant

CHUNK = 500
EXPIRED = "expired"


def expire_grants(now: datetime) -> int:
    """Set ended_at/end_reason on every grant whose expiry has passed; one audit event per grant."""
    with transaction.atomic():
        hold_lock("expiry.grants")
        due = Grant.objects.filter(ended_at__isnull=True, expires_at__lte=now)
        rows = list(
            due.order_by("id").values_list(
                "id",
                "identity_id",
                "identity__name",
                "resource_kind",
                "resource_name",
                "actions",
                "expires_at",
                "origin",
            )
        )
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), CHUNK):
            due.filter(pk__in=ids[start : start + CHUNK]).update(ended_at=now, end_reason=EXPIRED)
        audit.record_many(
            system("expiry"),
            [
                {
                    "verb": "grant.expired",
                    "subject": ("inventory.grant", pk, f"{name}: {kind}:{resource}"),
                    "before": {"ended_at": None, "expires_at": expires_at},
                    "after": {
                        "identity": identity_id,
                        "actions": actions,
                        "ended_at": now,
                        "end_reason": EXPIRED,
                    },
                    "reason": "Time-bound access reached its expiry.",
                }
                for pk, identity_id, name, kind, resource, actions, expires_at, _origin in rows
            ],
        )
        # A just-in-time grant's end reaches the source too (connectors with enforcement on).
        jit = [row for row in rows if row[7] == Grant.Origin.JIT]
        enforcement.request(
            system("expiry"),
            [row[1] for row in jit],
            cause=enforcement.GRANT_EXPIRED,
            reason="Time-bound access reached its expiry.",
            grant_ids=[row[0] for row in jit],
        )
    return len(rows)
