"""Every write to connectors: create and change them, start runs, confirm vanished identities.

Each function takes the actor, runs in one transaction, checks roles and state, and writes its
audit event in that transaction; queuing work for the worker happens after commit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from connectors import config as connector_config
from connectors import kinds
from connectors.models import Connector, ConnectorRun, SourceRecord
from governance import audit
from governance.actors import Actor, as_actor, system
from governance.errors import IllegalTransition
from governance.queueing import send_by_name
from inventory import access
from inventory import services as inventory
from inventory.models import Credential, Identity

log = logging.getLogger(__name__)

EDITABLE = ("config", "schedule", "enforce")
SCHEDULE_SECONDS = {
    Connector.Schedule.HOURLY: 3600,
    Connector.Schedule.EVERY_6_HOURS: 6 * 3600,
    Connector.Schedule.DAILY: 24 * 3600,
}
RUN_TASK = "connectors.run_sync"  # connectors.tasks.run_sync
OWN_SOURCE = "steward"  # the connectors' own credentials are identities with this source


def snapshot(connector: Connector) -> dict[str, Any]:
    return audit.snapshot(connector, ("name", "kind", *EDITABLE))


def clean(data: dict[str, Any], *, existing: Connector | None = None) -> dict[str, Any]:
    """Validate a connector's fields; per-field messages (config's as '<setting>: message')."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if existing is None:
        name = data.get("name")
        if not isinstance(name, str) or not connector_config.NAME.match(name):
            errors["name"] = [
                "Lower-case letters, digits, '-' and '_' (at most 60), starting with a letter or digit."
            ]
        elif Connector.objects.filter(name=name).exists():
            errors["name"] = [f"A connector named '{name}' already exists."]
        elif name == OWN_SOURCE or Identity.objects.filter(source=name).exists():
            # Its identities are told apart by their source: it must be the connector's alone.
            errors["name"] = [f"Identities from another source already use '{name}' as their source."]
        else:
            cleaned["name"] = name
        kind = data.get("kind")
        if kind not in Connector.Kind.values:
            errors["kind"] = [f"Choose one of {', '.join(Connector.Kind.values)}."]
        elif kind not in kinds.available():
            errors["kind"] = [f"The {kind} connector is not available in this build."]
        else:
            cleaned["kind"] = kind
    kind = existing.kind if existing is not None else cleaned.get("kind")
    pushed = bool(kind) and getattr(kinds.available().get(kind), "pushed", False)
    if "schedule" in data:
        if data["schedule"] not in Connector.Schedule.values:
            errors["schedule"] = [f"Choose one of {', '.join(Connector.Schedule.values)}."]
        else:
            cleaned["schedule"] = data["schedule"]
    if "enforce" in data:
        if not isinstance(data["enforce"], bool):
            errors["enforce"] = ["Must be true or false."]
        else:
            cleaned["enforce"] = data["enforce"]
    if pushed:
        # Its endpoints post reports: there is nothing to sync on a schedule, nothing to act on.
        if existing is None:
            cleaned["schedule"] = Connector.Schedule.MANUAL  # whatever a form's default said
        elif cleaned.get("schedule", Connector.Schedule.MANUAL) != Connector.Schedule.MANUAL:
            errors["schedule"] = [f"A {kind} connector is not synced (its endpoints post reports): manual."]
        if cleaned.get("enforce"):
            errors["enforce"] = [f"A {kind} connector cannot act on endpoints; enforcement stays off."]
    if ("config" in data or existing is None) and kind:
        config, config_errors = connector_config.clean_config(kind, data.get("config"))
        if config_errors:
            errors["config"] = [
                f"{key}: {message}" for key, msgs in config_errors.items() for message in msgs
            ]
        cleaned["config"] = config
    if errors:
        raise ValidationError(errors)
    return cleaned


def _require_governor(actor: Actor, what: str) -> None:
    access.require_governor(actor, what)


def _sync_schedule(connector: Connector) -> None:
    """Keep the connector's beat entry (django-celery-beat) in step with its schedule."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    name = f"connector {connector.name}"
    seconds = SCHEDULE_SECONDS.get(connector.schedule)
    if seconds is None:
        PeriodicTask.objects.filter(name=name).update(enabled=False)
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": "connectors.scheduled_sync",
            "args": json.dumps([connector.pk]),
            "interval": interval,
            "enabled": True,
            "description": f"Sync connector {connector.name} ({connector.get_schedule_display()}).",
        },
    )


def _own_identity(actor: Actor, connector: Connector) -> Identity:
    """The connector's own credential as an identity: source `steward`, external id `connector:<name>`."""
    identity = Identity.objects.filter(source=OWN_SOURCE, external_id=f"connector:{connector.name}").first()
    if identity is not None:
        return identity
    user = actor.user
    name = f"connector {connector.name}"
    if Identity.objects.filter(name=name).exists():
        name = f"connector {connector.name} ({connector.pk})"
    return inventory.create_identity(
        actor,
        data={
            "name": name,
            "kind": Identity.Kind.SERVICE_ACCOUNT,
            "purpose": f"Steward's {connector.get_kind_display()} connector '{connector.name}': reads the "
            "source" + (" and disables revoked identities there." if connector.enforce else "."),
            "owner": user if user is not None and user.is_active else None,
            "source": OWN_SOURCE,
            "external_id": f"connector:{connector.name}",
            "environments": ["prod"],
        },
        status=Identity.Status.ACTIVE if user is not None else Identity.Status.DISCOVERED,
        check_role=False,
        reason=f"Connector {connector.name} registered",
    )


@transaction.atomic
def create_connector(actor, data: dict[str, Any]) -> Connector:
    actor = as_actor(actor)
    _require_governor(actor, "register connectors")
    cleaned = clean(data)
    connector = Connector.objects.create(created_by=actor.user if actor.kind != "system" else None, **cleaned)
    audit.record(actor, "connector.created", connector, after=snapshot(connector))
    connector.identity = _own_identity(actor, connector)
    connector.save(update_fields=["identity"])
    _sync_schedule(connector)
    return connector


@transaction.atomic
def update_connector(actor, connector: Connector, data: dict[str, Any]) -> Connector:
    actor = as_actor(actor)
    _require_governor(actor, "change connectors")
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    unknown = set(data) - set(EDITABLE) - {"name", "kind"}
    if unknown:
        raise ValidationError({key: ["This field cannot be changed."] for key in sorted(unknown)})
    for fixed in ("name", "kind"):
        if fixed in data and data[fixed] != getattr(connector, fixed):
            raise ValidationError({fixed: ["A connector's name and kind are fixed; register a new one."]})
    cleaned = clean({k: v for k, v in data.items() if k in EDITABLE}, existing=connector)
    before = snapshot(connector)
    for key, value in cleaned.items():
        setattr(connector, key, value)
    connector.save()
    audit.record_changes(actor, "connector.updated", connector, before, snapshot(connector))
    _sync_schedule(connector)
    return connector


def start_run(
    actor, connector: Connector, *, dry_run: bool = False, trigger: str = "api", enqueue: bool = True
) -> ConnectorRun:
    """Open a run (one per connector at a time: a second is a 409) and queue it after commit
    (`enqueue=False`: the caller runs it itself, as the command does)."""
    actor = as_actor(actor)
    _require_governor(actor, "sync connectors")
    try:
        with transaction.atomic():
            connector = Connector.objects.select_for_update().get(pk=connector.pk)
            running = ConnectorRun.objects.filter(
                connector=connector, state=ConnectorRun.State.RUNNING
            ).first()
            if running is not None:
                raise IllegalTransition(
                    f"Connector '{connector.name}' is already running (run {running.pk}, started "
                    f"{running.started_at:%Y-%m-%d %H:%M} UTC); wait for it to finish."
                )
            errors = connector_config.endpoint_errors(connector.config)
            if errors:
                raise ValidationError({"config": errors})
            if getattr(kinds.available().get(connector.kind), "pushed", False):
                raise IllegalTransition(
                    f"Connector '{connector.name}' is not synced: its endpoints post reports to "
                    f"connectors/{connector.pk}/reports/ (tools/steward-scan)."
                )
            run = ConnectorRun.objects.create(
                connector=connector, dry_run=dry_run, trigger=trigger, actor=actor.label
            )
            audit.record(
                actor,
                "connector.dry_run_started" if dry_run else "connector.sync_started",
                connector,
                after={"run": run.pk, "dry_run": dry_run, "trigger": trigger},
            )
            if enqueue:
                transaction.on_commit(lambda: enqueue_run(run.pk))
    except IntegrityError:  # another start won the race between our check and insert
        raise IllegalTransition(f"Connector '{connector.name}' is already running; wait for it to finish.")
    return run


def enqueue_run(run_id: int) -> None:
    """Queue the run. With the broker down the run stays `running` with no lease, and the
    `connector_recovery` job queues it again."""
    # By name, so this module does not import its own Celery wrapper (connectors.tasks calls here).
    if not send_by_name(RUN_TASK, (run_id,)):
        log.warning("broker unreachable: connector run %s waits for the recovery job", run_id)


@transaction.atomic
def confirm_vanished(actor, connector: Connector, identity: Identity, reason: str) -> Identity:
    """IAM (or Security) confirms an identity is gone from its source: decommission it in Steward and
    record its credentials' revocation as confirmed (the source no longer has them)."""
    actor = as_actor(actor)
    _require_governor(actor, "confirm that an identity vanished from its source")
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if identity.source != connector.name:
        raise ValidationError(
            {"identity": [f"'{identity.name}' was not found by connector {connector.name}."]}
        )
    if not identity.vanished:
        raise IllegalTransition(f"'{identity.name}' is not flagged vanished: its source still shows it.")
    reason = (reason or "").strip() or f"Gone from {connector.name}; IAM confirmed"
    if identity.status != Identity.Status.DECOMMISSIONED:
        identity = inventory.decommission(actor, identity, reason)
    now = timezone.now()
    confirmed = list(
        identity.credentials.filter(
            revoked_at__isnull=False, revocation_confirmed_at__isnull=True
        ).values_list("pk", flat=True)
    )
    Credential.objects.filter(pk__in=confirmed).update(
        revocation_confirmed_at=now,
        revocation_confirmed_by=actor.label,
        revocation_note=f"Gone from the source ({connector.name})",
    )
    Identity.objects.filter(pk=identity.pk).update(vanished=False, version=F("version") + 1)
    audit.record(
        actor,
        "identity.vanished_confirmed",
        identity,
        before={"vanished": True},
        after={"vanished": False, "status": identity.status, "credentials_confirmed": confirmed},
        reason=reason,
    )
    identity.refresh_from_db()
    return identity


def connector_actor(connector: Connector) -> Actor:
    return system(connector.actor_label)


def records_for(identity: Identity):
    return SourceRecord.objects.filter(identity=identity).select_related("connector")
