"""Running a connector: discover page by page, reconcile each page with the inventory, then flag
what vanished. Every page commits on its own with the run's counts and cursor, so a run whose
worker died resumes where it stopped (connectors.jobs requeues it once its lease lapses), and a
page seen twice changes nothing the second time (records are matched by source and external id and
compared by fingerprint).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors import config as connector_config
from connectors import kinds
from connectors.kinds import ConnectorError, FoundCredential, FoundIdentity, Page
from connectors.models import Connector, ConnectorRun, Enforcement, SourceRecord
from connectors.services import connector_actor
from governance import audit
from governance.actors import Actor
from governance.reviews import remediation
from inventory import services as inventory
from inventory.models import Credential, Identity

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
MAX_ERROR_DETAILS = 50
MAX_REPORT = 200
CHUNK = 500
VANISHED_REASON = "Not found at the source by a complete sync; IAM confirms before it is decommissioned."
Remediation = Identity.Remediation


def execute_run(run_id: int) -> ConnectorRun | None:
    """Run (or resume) one run. Returns None when another worker holds it or it already ended."""
    now = timezone.now()
    claimed = (
        ConnectorRun.objects.filter(pk=run_id, state=ConnectorRun.State.RUNNING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    run = ConnectorRun.objects.select_related("connector").get(pk=run_id)
    connector = run.connector
    try:
        errors = connector_config.endpoint_errors(connector.config)
        if errors:
            raise ConnectorError("; ".join(errors))
        impl = kinds.get(connector.kind)(connector)
        if run.dry_run:
            _dry_run(run, impl)
        else:
            for page in impl.discover(dict(run.cursor)):
                _reconcile_page(run, connector, page)
            _flag_vanished(run, connector)
            _record_worker_credential(run, connector, impl)
        _finish(run, ok=True)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run and the connector
        log.exception("connector %s run %s failed", connector.name, run.pk)
        _finish(run, ok=False, error=_describe(exc))
    if not run.dry_run:
        _sweep()
    run.refresh_from_db()
    return run


def _describe(exc: Exception) -> str:
    if isinstance(exc, ConnectorError):
        return str(exc)[:2000]
    return f"{exc.__class__.__name__}: {exc}"[:2000]


def _sweep() -> None:
    """Findings follow the run at once (new identities, entitlements, a failing connector)."""
    from governance.findings.sweep import run_sweep

    try:
        run_sweep()
    except Exception:  # noqa: BLE001 - the hourly sweep catches up
        log.exception("the sweep after a connector run failed")


def _finish(run: ConnectorRun, *, ok: bool, error: str = "") -> None:
    now = timezone.now()
    connector = run.connector
    actor = connector_actor(connector)
    with transaction.atomic():
        locked = ConnectorRun.objects.select_for_update().get(pk=run.pk)
        details = list(locked.error_details)
        if error:
            details = [*details, {"at": now.isoformat(), "error": error}][-MAX_ERROR_DETAILS:]
        state = ConnectorRun.State.SUCCEEDED if ok else ConnectorRun.State.FAILED
        ConnectorRun.objects.filter(pk=run.pk).update(
            state=state,
            finished_at=now,
            lease_until=None,
            errors=F("errors") + (0 if ok else 1),
            error_details=details,
            progress={**locked.progress, "phase": "done" if ok else "failed"},
        )
        changes: dict[str, Any] = {"last_run_at": now}
        if not run.dry_run:
            if ok:
                changes.update(last_success_at=now, failing=False, failing_since=None, last_error="")
            else:
                changes.update(failing=True, last_error=error)
        Connector.objects.filter(pk=connector.pk).update(**changes)
        if not ok and not run.dry_run and not connector.failing:
            Connector.objects.filter(pk=connector.pk).update(failing_since=now)
        locked.refresh_from_db()
        audit.record(
            actor,
            ("connector.dry_run_finished" if run.dry_run else "connector.sync_finished")
            if ok
            else ("connector.dry_run_failed" if run.dry_run else "connector.sync_failed"),
            connector,
            after={
                "run": run.pk,
                "state": state,
                "seen": locked.seen,
                "discovered": locked.discovered,
                "changed": locked.changed,
                "vanished": locked.vanished,
                "errors": locked.errors,
            },
            reason=error,
        )


# ---------------------------------------------------------------- reconciliation


def _unique_name(connector: Connector, found: FoundIdentity, taken: set[str]) -> str:
    base = f"{connector.name}/{found.object_type}/{found.name}"[:190]
    name, n = base, 1
    while name in taken or Identity.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def create_discovered(
    actor: Actor,
    connector: Connector,
    found,
    taken: set[str],
    *,
    kind: str,
    external_id: str,
    purpose: str,
    **data,
) -> Identity:
    """A `discovered` identity for what the connector found, waiting in triage under a name unique to it.

    `found` names it (its `object_type` and `name`); `data` holds any other field the source reports."""
    return inventory.create_identity(
        actor,
        data={
            "name": _unique_name(connector, found, taken),
            "kind": kind,
            **data,
            "purpose": purpose,
            "source": connector.name,
            "external_id": external_id,
        },
        status=Identity.Status.DISCOVERED,
        check_role=False,
        reason=f"Discovered by connector {connector.name}",
    )


def _credential_rows(identity: Identity, credentials: Iterable[FoundCredential]) -> list[Credential]:
    """New credential rows for what the source reports (key ids and labels, never secret values)."""
    return [
        Credential(
            identity=identity,
            kind=c.kind,
            label=c.label,
            storage=c.storage[:200],
            issued_at=c.issued_at,
            expires_at=c.expires_at,
        )
        for c in credentials
    ]


def _record_fields(run: ConnectorRun, found: FoundIdentity, identity: Identity | None, now) -> dict[str, Any]:
    return {
        "identity": identity,
        "object_type": found.object_type,
        "name": found.name[:200],
        "details": _json_safe(
            {**found.details, "credential_labels": sorted(c.label for c in found.credentials)}
        ),
        "entitlements": [e.as_dict() for e in found.entitlements],
        "disabled": found.disabled,
        "fingerprint": found.fingerprint(),
        "last_seen_at": now,
        "last_seen_run": run.pk,
        "gone_at": None,
    }


def _json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _reconcile_page(run: ConnectorRun, connector: Connector, page: Page) -> None:
    actor = connector_actor(connector)
    now = timezone.now()
    counts = {"discovered": 0, "changed": 0}
    report: list[dict[str, Any]] = []
    errors = [*page.errors, *(e for found in page.identities for e in found.errors)]
    with transaction.atomic():
        ext_ids = [f.external_id for f in page.identities]
        records = {
            r.external_id: r
            for r in SourceRecord.objects.select_for_update().filter(
                connector=connector, external_id__in=ext_ids
            )
        }
        identities = {
            i.external_id: i for i in Identity.objects.filter(source=connector.name, external_id__in=ext_ids)
        }
        unchanged: list[int] = []
        taken: set[str] = set()
        for found in page.identities:
            record = records.get(found.external_id)
            identity = identities.get(found.external_id)
            fingerprint = found.fingerprint()
            if identity is None:
                try:
                    identity = _discover(actor, connector, found, taken)
                except ValidationError as exc:  # e.g. a name that looks like a secret: skip, say why
                    errors.append(f"{found.external_id}: {'; '.join(exc.messages)}")
                    continue
                counts["discovered"] += 1
                report.append(
                    {"change": "discovered", "external_id": found.external_id, "identity": identity.pk}
                )
            elif (
                record is None
                or record.fingerprint != fingerprint
                or record.gone_at is not None
                or identity.vanished
            ) and _apply_changes(actor, connector, run, identity, found, record):
                counts["changed"] += 1
                report.append(
                    {"change": "changed", "external_id": found.external_id, "identity": identity.pk}
                )
            if record is None:
                SourceRecord.objects.create(
                    connector=connector,
                    external_id=found.external_id,
                    **_record_fields(run, found, identity, now),
                )
            elif (
                record.fingerprint != fingerprint
                or record.gone_at is not None
                or record.identity_id != identity.pk
            ):
                for key, value in _record_fields(run, found, identity, now).items():
                    setattr(record, key, value)
                record.save()
            else:
                unchanged.append(record.pk)
        for start in range(0, len(unchanged), CHUNK):
            SourceRecord.objects.filter(pk__in=unchanged[start : start + CHUNK]).update(
                last_seen_at=now, last_seen_run=run.pk
            )
        _confirm_remediations(actor, connector, run, page, identities_by_ext={**identities})
        _advance(run, page, counts, errors, report)


@transaction.atomic  # with the page's own transaction; a dry run's page has none of its own
def _advance(run: ConnectorRun, page: Page, counts: dict[str, int], errors: list[str], report: list) -> None:
    """The run's counts, cursor and progress move with the page's own transaction."""
    locked = ConnectorRun.objects.select_for_update().get(pk=run.pk)
    details = [*locked.error_details, *({"error": e[:500]} for e in errors)][-MAX_ERROR_DETAILS:]
    ConnectorRun.objects.filter(pk=run.pk).update(
        seen=F("seen") + len(page.identities),
        discovered=F("discovered") + counts.get("discovered", 0),
        changed=F("changed") + counts.get("changed", 0),
        errors=F("errors") + len(errors),
        error_details=details,
        cursor=page.next_cursor or {"phase": "complete"},
        progress={**page.progress, "seen": locked.seen + len(page.identities)},
        report=[*locked.report, *report][:MAX_REPORT],
        lease_until=timezone.now() + LEASE,
    )


def _discover(actor: Actor, connector: Connector, found: FoundIdentity, taken: set[str]) -> Identity:
    """New at the source: a `discovered` identity waiting in triage, with its credentials."""
    identity = create_discovered(
        actor,
        connector,
        found,
        taken,
        kind=found.kind,
        external_id=found.external_id,
        purpose=f"Found at the source by connector '{connector.name}' (IAM {found.object_type}); "
        "not approved yet: triage it.",
    )
    # Key ids are the source's identifiers (not secret values), written as the source reports them.
    Credential.objects.bulk_create(_credential_rows(identity, found.credentials))
    if found.last_used_at:
        Identity.objects.filter(pk=identity.pk).update(last_used_at=found.last_used_at)
    audit.record(
        actor,
        "identity.discovered_at_source",
        identity,
        after={
            "connector": connector.name,
            "external_id": found.external_id,
            "credentials": [
                {"kind": c.kind, "label": c.label, "active": c.active} for c in found.credentials
            ],
            "entitlements": [e.as_dict() for e in found.entitlements],
            "last_used_at": found.last_used_at,
        },
    )
    return identity


def _apply_changes(
    actor: Actor,
    connector: Connector,
    run: ConnectorRun,
    identity: Identity,
    found: FoundIdentity,
    record: SourceRecord | None,
) -> bool:
    """A known identity the source shows differently: credentials, last use, entitlements, back again."""
    now = timezone.now()
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    managed = set((record.details if record else {}).get("credential_labels", []))
    current = {c.label: c for c in identity.credentials.all()}
    new = [c for c in found.credentials if c.label not in current]
    if new:
        Credential.objects.bulk_create(_credential_rows(identity, new))
        after["credentials_added"] = sorted(c.label for c in new)
    seen_labels = {c.label for c in found.credentials}
    gone = [
        c
        for label, c in current.items()
        if label in managed and label not in seen_labels and c.revoked_at is None
    ]
    if gone:
        Credential.objects.filter(pk__in=[c.pk for c in gone]).update(
            revoked_at=now,
            revocation_confirmed_at=now,
            revocation_confirmed_by=actor.label,
            revocation_note=f"Gone from the source (connector {connector.name}, run {run.pk})",
        )
        after["credentials_gone"] = sorted(c.label for c in gone)
    updates: dict[str, Any] = {}
    if found.last_used_at and (identity.last_used_at is None or found.last_used_at > identity.last_used_at):
        before["last_used_at"] = identity.last_used_at
        after["last_used_at"] = found.last_used_at
        updates["last_used_at"] = found.last_used_at
    if identity.vanished:
        before["vanished"] = True
        after["vanished"] = False
        updates.update(vanished=False, vanished_at=None)
    old_entitlements = sorted(
        (e.get("ref", ""), tuple(e.get("actions", []))) for e in (record.entitlements if record else [])
    )
    new_entitlements = sorted((e.ref, tuple(sorted(e.actions))) for e in found.entitlements)
    if record is not None and old_entitlements != new_entitlements:
        before["entitlements"] = record.entitlements
        after["entitlements"] = [e.as_dict() for e in found.entitlements]
    if record is not None and record.disabled != found.disabled:
        before["disabled_at_source"] = record.disabled
        after["disabled_at_source"] = found.disabled
    old_keys = {
        k.get("id"): k.get("status") for k in (record.details if record else {}).get("access_keys", [])
    }
    new_keys = {k["id"]: k["status"] for k in found.details.get("access_keys", [])}
    if record is not None and old_keys != new_keys:
        before["key_status"] = old_keys
        after["key_status"] = new_keys
    if updates:
        Identity.objects.filter(pk=identity.pk).update(version=F("version") + 1, **updates)
    if not after and record is not None and record.gone_at is None:
        return False  # e.g. only detail ordering changed: nothing a person would call a change
    audit.record(
        actor,
        "identity.changed_at_source",
        identity,
        before=before,
        after={**after, "connector": connector.name, "run": run.pk},
    )
    return True


def _confirm_remediations(
    actor: Actor, connector: Connector, run: ConnectorRun, page: Page, identities_by_ext
) -> None:
    """A pending (or failed) remediation is confirmed when this sync sees the identity disabled at
    the source, or the revoked entitlements gone: the independent proof the evidence pack uses."""
    by_ext = {f.external_id: f for f in page.identities}
    waiting = list(
        Identity.objects.filter(
            source=connector.name,
            external_id__in=list(by_ext),
            remediation__in=(Remediation.PENDING, Remediation.FAILED),
        )
    )
    if not waiting:
        return
    impl_cls = kinds.get(connector.kind)
    open_by_identity: dict[int, list[Enforcement]] = {}
    for enforcement in Enforcement.objects.filter(
        identity__in=waiting,
        state__in=(Enforcement.State.PENDING, Enforcement.State.APPLIED, Enforcement.State.FAILED),
    ):
        open_by_identity.setdefault(enforcement.identity_id, []).append(enforcement)
    now = timezone.now()
    for identity in waiting:
        found = by_ext[identity.external_id]
        enforcements = open_by_identity.get(identity.pk, [])
        done = []
        for enforcement in enforcements:
            if enforcement.action == Enforcement.Action.DISABLE:
                ok = found.disabled
            else:
                ok = enforcement.state == Enforcement.State.APPLIED and impl_cls.confirms_revoke(
                    found, enforcement.details.get("removed_refs", [])
                )
            if ok:
                done.append(enforcement)
        if not enforcements and not found.disabled:
            continue
        if len(done) != len(enforcements):
            continue
        Enforcement.objects.filter(pk__in=[e.pk for e in done]).update(
            state=Enforcement.State.CONFIRMED, confirmed_at=now, error=""
        )
        _remediation_confirmed(
            actor, identity, connector, run, done, now,
            note=f"Seen disabled at the source (connector {connector.name}, run {run.pk})",
            seen={"disabled_at_source": found.disabled},
        )  # fmt: skip


def _flag_vanished(run: ConnectorRun, connector: Connector) -> None:
    """Everything not seen in this (complete) run is gone from the source: flag its identity."""
    actor = connector_actor(connector)
    now = timezone.now()
    with transaction.atomic():
        missing = list(
            SourceRecord.objects.select_for_update()
            .filter(connector=connector, gone_at__isnull=True)
            .exclude(last_seen_run=run.pk)
            .values_list("pk", "identity_id", "external_id")
        )
        for start in range(0, len(missing), CHUNK):
            SourceRecord.objects.filter(pk__in=[m[0] for m in missing[start : start + CHUNK]]).update(
                gone_at=now
            )
        identity_ids = [m[1] for m in missing if m[1]]
        if kinds.get(connector.kind).gone_confirms_enforcement:
            _confirm_gone(actor, connector, run, identity_ids)
        flagged = list(
            Identity.objects.filter(pk__in=identity_ids, vanished=False)
            .exclude(status=Identity.Status.DECOMMISSIONED)
            .values_list("pk", "name", "external_id")
        )
        for start in range(0, len(flagged), CHUNK):
            Identity.objects.filter(pk__in=[f[0] for f in flagged[start : start + CHUNK]]).update(
                vanished=True, vanished_at=now, version=F("version") + 1
            )
        audit.record_many(
            actor,
            [
                {
                    "verb": "identity.vanished",
                    "subject": ("inventory.identity", pk, name),
                    "before": {"vanished": False},
                    "after": {
                        "vanished": True,
                        "connector": connector.name,
                        "run": run.pk,
                        "external_id": ext,
                    },
                    "reason": VANISHED_REASON,
                }
                for pk, name, ext in flagged
            ],
        )
        locked = ConnectorRun.objects.select_for_update().get(pk=run.pk)
        report = [{"change": "vanished", "external_id": ext, "identity": pk} for pk, _name, ext in flagged]
        ConnectorRun.objects.filter(pk=run.pk).update(
            vanished=len(flagged), report=[*locked.report, *report][:MAX_REPORT]
        )


def _confirm_gone(actor: Actor, connector: Connector, run: ConnectorRun, identity_ids: list[int]) -> None:
    """For kinds whose enforcement removes the thing itself (a revoked PAT grant, a deleted deploy
    key), an identity gone from the source after its enforcement was applied is confirmed."""
    applied = list(
        Enforcement.objects.filter(
            connector=connector, identity_id__in=identity_ids, state=Enforcement.State.APPLIED
        ).select_related("identity")
    )
    if not applied:
        return
    now = timezone.now()
    by_identity: dict[int, list[Enforcement]] = {}
    for enforcement in applied:
        by_identity.setdefault(enforcement.identity_id, []).append(enforcement)
    Enforcement.objects.filter(pk__in=[e.pk for e in applied]).update(
        state=Enforcement.State.CONFIRMED, confirmed_at=now, error=""
    )
    for done in by_identity.values():
        identity = done[0].identity
        if identity.remediation not in (Remediation.PENDING, Remediation.FAILED):
            continue
        _remediation_confirmed(
            actor, identity, connector, run, done, now,
            note=f"Gone from the source after enforcement ({connector.name}, run {run.pk})",
            seen={"gone_from_source": True},
        )  # fmt: skip


def _remediation_confirmed(actor, identity, connector, run, done, now, *, note: str, seen: dict) -> None:
    """The source shows the enforcement done: the identity's remediation is confirmed, its revoked
    credentials' revocations too, audited with what was seen, and its review items follow."""
    Identity.objects.filter(pk=identity.pk).update(
        remediation=Remediation.CONFIRMED,
        remediation_confirmed_at=now,
        remediation_error="",
        version=F("version") + 1,
    )
    unconfirmed = identity.credentials.filter(revoked_at__isnull=False, revocation_confirmed_at__isnull=True)
    confirmed = list(unconfirmed.values_list("pk", flat=True))
    Credential.objects.filter(pk__in=confirmed).update(
        revocation_confirmed_at=now, revocation_confirmed_by=actor.label, revocation_note=note
    )
    audit.record(
        actor,
        "identity.remediation_confirmed",
        identity,
        before={"remediation": identity.remediation},
        after={
            "remediation": Remediation.CONFIRMED,
            "connector": connector.name,
            "run": run.pk,
            "enforcements": [e.pk for e in done],
            "credentials_confirmed": confirmed,
            **seen,
        },
    )
    remediation.confirm_by_source(identity, connector.actor_label)  # review items waiting on this revoke


def _record_worker_credential(run: ConnectorRun, connector: Connector, impl) -> None:
    """The connector's own identity carries the credential the worker used (metadata only)."""
    if connector.identity_id is None:
        return
    try:
        used = impl.worker_credential()
    except Exception:  # noqa: BLE001 - describing the credential must never fail a run
        log.exception("could not describe the worker credential of connector %s", connector.name)
        return
    if used is None:
        return
    now = timezone.now()
    with transaction.atomic():
        identity = Identity.objects.select_for_update().get(pk=connector.identity_id)
        Identity.objects.filter(pk=identity.pk).update(last_used_at=now)
        if identity.credentials.filter(label=used.label, kind=used.kind, revoked_at__isnull=True).exists():
            return
        credential = Credential.objects.create(
            identity=identity, kind=used.kind, label=used.label, storage=used.storage[:200], issued_at=now
        )
        audit.record(
            connector_actor(connector),
            "credential.added",
            identity,
            after={"credential": inventory.credential_snapshot(credential)},
            reason=f"The worker's credential for connector {connector.name} (run {run.pk})",
        )


# ---------------------------------------------------------------- dry run


def _dry_run(run: ConnectorRun, impl) -> None:
    """Everything a run would do, written only to the run's own report: the inventory is untouched."""
    connector = run.connector
    seen: set[str] = set()
    # A dry run keeps no cursor: a resumed one starts again from the top, with its counts.
    ConnectorRun.objects.filter(pk=run.pk).update(
        seen=0, discovered=0, changed=0, vanished=0, errors=0, report=[], error_details=[]
    )
    for page in impl.discover({}):
        ext_ids = [f.external_id for f in page.identities]
        seen.update(ext_ids)
        records = dict(
            SourceRecord.objects.filter(connector=connector, external_id__in=ext_ids).values_list(
                "external_id", "fingerprint"
            )
        )
        known = set(
            Identity.objects.filter(source=connector.name, external_id__in=ext_ids).values_list(
                "external_id", flat=True
            )
        )
        counts = {"discovered": 0, "changed": 0}
        report = []
        for found in page.identities:
            if found.external_id not in known:
                counts["discovered"] += 1
                report.append({"change": "would_discover", "external_id": found.external_id})
            elif records.get(found.external_id) != found.fingerprint():
                counts["changed"] += 1
                report.append({"change": "would_change", "external_id": found.external_id})
        errors = [*page.errors, *(e for found in page.identities for e in found.errors)]
        _advance(run, Page(page.identities, {}, page.progress), counts, errors, report)
    gone = [
        ext
        for ext in SourceRecord.objects.filter(connector=connector, gone_at__isnull=True)
        .values_list("external_id", flat=True)
        .iterator(chunk_size=2000)
        if ext not in seen
    ]
    with transaction.atomic():
        locked = ConnectorRun.objects.select_for_update().get(pk=run.pk)
        ConnectorRun.objects.filter(pk=run.pk).update(
            vanished=len(gone),
            report=[*locked.report, *({"change": "would_vanish", "external_id": e} for e in gone)][
                :MAX_REPORT
            ],
        )
