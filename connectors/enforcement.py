"""Enforcement at the source: what a revocation in Steward asks of an enforcing connector.

`on_revocation` is registered with `inventory.enforcement` and runs inside the transaction that
suspended, decommissioned or revoked (or the expiry job's): it marks the identity's remediation
`pending`, records an `Enforcement` and audits both; the source call itself is queued after commit
(`connectors.tasks.enforce`). A later sync confirms it (connectors.sync); a source error marks it
`failed` with the error.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors import kinds
from connectors.models import Connector, Enforcement, SourceRecord
from connectors.services import connector_actor
from governance import audit
from governance.actors import as_actor
from governance.queueing import send_by_name
from governance.reviews import remediation
from inventory import enforcement as causes
from inventory.models import Grant, Identity

log = logging.getLogger(__name__)
OPEN = (Enforcement.State.PENDING, Enforcement.State.APPLIED)
ENFORCE_TASK = "connectors.enforce"  # connectors.tasks.enforce


def on_revocation(actor, identity_ids: list[int], *, cause: str, reason: str = "", grant_ids=()) -> None:
    actor = as_actor(actor)
    enforcing = {c.name: c for c in Connector.objects.filter(enforce=True)}
    if not enforcing:
        return
    identities = list(
        Identity.objects.filter(pk__in=identity_ids, source__in=list(enforcing), vanished=False).exclude(
            external_id=""
        )
    )
    if not identities:
        return
    action = Enforcement.Action.REVOKE if cause == causes.GRANT_EXPIRED else Enforcement.Action.DISABLE
    already = set(
        Enforcement.objects.filter(identity__in=identities, action=action, state__in=OPEN).values_list(
            "identity_id", flat=True
        )
    )
    now = timezone.now()
    for identity in identities:
        if identity.pk in already:
            continue  # one open request per identity and action: the first one will be confirmed
        connector = enforcing[identity.source]
        enforcement = Enforcement.objects.create(
            connector=connector,
            identity=identity,
            action=action,
            cause=cause,
            reason=(reason or "")[:2000],
            requested_by=actor.label,
            details={"grants": list(grant_ids)} if action == Enforcement.Action.REVOKE else {},
        )
        Identity.objects.filter(pk=identity.pk).update(
            remediation=Identity.Remediation.PENDING,
            remediation_error="",
            remediation_requested_at=now,
            remediation_confirmed_at=None,
            version=F("version") + 1,
        )
        audit.record(
            actor,
            "identity.remediation_requested",
            identity,
            before={"remediation": identity.remediation},
            after={
                "remediation": Identity.Remediation.PENDING,
                "connector": connector.name,
                "action": action,
                "cause": cause,
                "enforcement": enforcement.pk,
            },
            reason=reason,
        )
        transaction.on_commit(lambda pk=enforcement.pk: enqueue(pk))


def enqueue(enforcement_id: int) -> None:
    # By name, so this module does not import its own Celery wrapper (connectors.tasks calls here).
    if not send_by_name(ENFORCE_TASK, (enforcement_id,)):
        log.warning("broker unreachable: enforcement %s waits for the recovery job", enforcement_id)


def execute(enforcement_id: int) -> Enforcement | None:
    """Call the source for one pending enforcement (claimed once; a duplicate message does nothing)."""
    claimed = Enforcement.objects.filter(
        pk=enforcement_id, state=Enforcement.State.PENDING, attempts=0
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        return None
    enforcement = Enforcement.objects.select_related("connector", "identity").get(pk=enforcement_id)
    connector = enforcement.connector
    record = SourceRecord.objects.filter(connector=connector, identity=enforcement.identity).first()
    details: dict = {}
    error = ""
    try:
        if record is None or record.gone_at is not None:
            raise kinds.ConnectorError("The identity is not at the source (no current record of it).")
        impl = kinds.get(connector.kind)(connector)
        if enforcement.action == Enforcement.Action.DISABLE:
            details = impl.disable(record)
        else:
            details = impl.revoke(record, _unapproved(record, enforcement.identity))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the identity
        log.warning("enforcement %s at %s failed: %s", enforcement.pk, connector.name, exc)
        error = (
            str(exc)[:2000] if isinstance(exc, kinds.ConnectorError) else f"{exc.__class__.__name__}: {exc}"
        )
    _record_outcome(enforcement, details, error)
    enforcement.refresh_from_db()
    return enforcement


def _unapproved(record: SourceRecord, identity: Identity) -> list[dict]:
    """The record's entitlements no current grant covers: what an ended grant leaves at the source."""
    from connectors.findings import uncovered

    grants = list(
        Grant.objects.current().filter(identity=identity).values("resource_kind", "resource_name", "actions")
    )
    missing_refs = {ref for item in uncovered(record.entitlements, grants) for ref in item["refs"]}
    return [e for e in record.entitlements if e.get("ref") in missing_refs]


@transaction.atomic
def _record_outcome(enforcement: Enforcement, details: dict, error: str) -> None:
    actor = connector_actor(enforcement.connector)
    now = timezone.now()
    identity = Identity.objects.select_for_update().get(pk=enforcement.identity_id)
    if error:
        Enforcement.objects.filter(pk=enforcement.pk).update(state=Enforcement.State.FAILED, error=error)
        Identity.objects.filter(pk=identity.pk).update(
            remediation=Identity.Remediation.FAILED, remediation_error=error, version=F("version") + 1
        )
        audit.record(
            actor,
            "identity.remediation_failed",
            identity,
            before={"remediation": identity.remediation},
            after={"remediation": Identity.Remediation.FAILED, "enforcement": enforcement.pk, "error": error},
            reason=enforcement.reason,
        )
        remediation.fail_by_source(identity, enforcement.connector.actor_label, error)
        return
    Enforcement.objects.filter(pk=enforcement.pk).update(
        state=Enforcement.State.APPLIED, applied_at=now, details={**enforcement.details, **details}
    )
    audit.record(
        actor,
        "identity.disabled_at_source"
        if enforcement.action == Enforcement.Action.DISABLE
        else "identity.revoked_at_source",
        identity,
        after={
            "connector": enforcement.connector.name,
            "enforcement": enforcement.pk,
            "cause": enforcement.cause,
            **details,
            "remediation": identity.remediation,
        },
        reason=enforcement.reason,
    )
