"""Bulk import of identities from CSV or JSON: plan (the diff), then apply all-or-nothing.

Rows are matched on `source` + `external_id`, so importing the same file again updates instead of
duplicating. Every problem is reported with its row and column before anything is written. An
imported identity without an owner is `discovered` and waits in the triage view.

Importing is done by one person. A new identity whose tier's approval route needs more than one step
(high: IAM then Security) is not made active by the import: it lands `proposed` with an activation
request (the activation flow, reached through inventory.routes) routed through the approval engine.
A backup owner named in the file (other than the importer) is asked to accept: the seat changes
once they do (inventory.ownership).

Row numbers: in a CSV file the header is row 1, so the first identity is row 2 (as a spreadsheet
shows it); in a JSON file the first identity is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance import audit, safe_json
from governance.actors import as_actor
from governance.people.models import Team, User
from inventory import routes
from inventory.access import require_governor
from inventory.models import (
    DESCRIPTIVE_FIELDS,
    ActivationRequest,
    Credential,
    Grant,
    Identity,
    OwnershipTransfer,
)
from inventory.risk import assess, max_tier
from inventory.snapshots import snapshot
from inventory.validation import (
    parse_time,
    validate_credentials,
    validate_grants,
    validate_identity_fields,
)

TEXT_COLUMNS = ("name", "kind", "vendor", "product", "model_name", "purpose", "data_classification")
PERSON_COLUMNS = ("owner", "backup_owner")
CREDENTIAL_COLUMNS = {
    "credential_label": "label",
    "credential_storage": "storage",
    "credential_issued_at": "issued_at",
    "credential_expires_at": "expires_at",
    "credential_last_rotated_at": "last_rotated_at",
}
KNOWN_COLUMNS = {
    *TEXT_COLUMNS,
    *PERSON_COLUMNS,
    *CREDENTIAL_COLUMNS,
    "team",
    "environments",
    "autonomous",
    "source",
    "external_id",
    "status",
    "last_used_at",
    "grants",
    "credentials",
    "credential_kind",
}
IMPORTABLE_STATUSES = (Identity.Status.DISCOVERED, Identity.Status.PROPOSED, Identity.Status.ACTIVE)
# Compared between the file and the database to decide "updated" or "unchanged".
COMPARED_FIELDS = DESCRIPTIVE_FIELDS
DEFAULT_SOURCE = "import"


class ImportRejected(Exception):
    """The file cannot be imported; `errors` lists {"row", "column", "message"}."""

    def __init__(self, errors: list[dict[str, Any]], message: str = "Nothing was imported."):
        super().__init__(message)
        self.errors = errors
        self.message = message


@dataclass
class PlannedRow:
    row: int
    action: str  # "create" | "update" | "unchanged"
    external_id: str
    source: str
    name: str
    identity: Identity | None = None
    values: dict[str, Any] = field(default_factory=dict)
    grants: list[dict[str, Any]] | None = None
    credentials: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = ""
    last_used_at: Any = None
    # A new identity whose tier needs more than one approval step: created proposed, routed.
    awaits_approval: bool = False
    # A backup owner named in the file: asked to accept (an ownership transfer of role backup_owner).
    nominee: User | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "id": self.identity.pk if self.identity else None,
            "source": self.source,
            "external_id": self.external_id,
            "name": self.name,
            "changes": self.changes,
            "awaits_approval": self.awaits_approval,
        }


@dataclass
class ImportPlan:
    rows: list[PlannedRow]
    dry_run: bool = True
    digest: str = ""

    def of(self, action: str) -> list[PlannedRow]:
        return [r for r in self.rows if r.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {a: len(self.of(a)) for a in ("create", "update", "unchanged")}

    @property
    def awaiting_approval(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.awaits_approval]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "sha256": self.digest,
            "counts": {
                "created": self.counts["create"],
                "updated": self.counts["update"],
                "unchanged": self.counts["unchanged"],
            },
            # New identities whose tier's route needs more than one step: created proposed, and
            # active only once that route approves their activation request.
            "awaiting_approval": [r.as_dict() for r in self.awaiting_approval],
            "created": [r.as_dict() for r in self.of("create")],
            "updated": [r.as_dict() for r in self.of("update")],
            "unchanged": [r.as_dict() for r in self.of("unchanged")],
        }


# ---------------------------------------------------------------- reading files


def too_large() -> ImportRejected:
    return ImportRejected(
        [_err(0, "file", f"The file is larger than {settings.STEWARD_IMPORT_MAX_BYTES:,} bytes.")]
    )


def read_upload(upload) -> bytes:
    """An uploaded file's bytes, refused by its size before it is read into memory."""
    if upload.size is not None and upload.size > settings.STEWARD_IMPORT_MAX_BYTES:
        raise too_large()
    return upload.read(settings.STEWARD_IMPORT_MAX_BYTES + 1)


def read_rows(content: bytes, filename: str = "") -> list[tuple[int, dict[str, Any]]]:
    """Decode a CSV or JSON file into (row number, raw fields) pairs, within the size and row limits."""
    if len(content) > settings.STEWARD_IMPORT_MAX_BYTES:
        raise too_large()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([_err(0, "file", "The file is not UTF-8 text.")])
    stripped = text.lstrip()
    if filename.lower().endswith(".json") or stripped[:1] in ("[", "{"):
        rows = _read_json(text)
    else:
        rows = _read_csv(text)
    if not rows:
        raise ImportRejected([_err(0, "file", "The file holds no identities.")])
    if len(rows) > settings.STEWARD_IMPORT_MAX_ROWS:
        raise ImportRejected(
            [
                _err(
                    0,
                    "file",
                    f"At most {settings.STEWARD_IMPORT_MAX_ROWS:,} rows per import; got {len(rows):,}.",
                )
            ]
        )
    return rows


def _read_json(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        document = safe_json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRejected([_err(exc.lineno, "file", f"Not valid JSON: {exc.msg} (line {exc.lineno}).")])
    except ValueError as exc:  # nested too deep, or a number out of range
        raise ImportRejected([_err(0, "file", f"Not accepted: {exc}")])
    if isinstance(document, dict):
        document = document.get("identities")
    if not isinstance(document, list):
        raise ImportRejected([_err(0, "file", 'Give a list of identities, or {"identities": [...]}.')])
    rows = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise ImportRejected([_err(number, "row", "Each identity must be an object.")])
        rows.append((number, item))
    return rows


def _read_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ImportRejected([_err(1, "file", f"Not valid CSV: {exc}")])
    unknown = [h for h in header if h and h not in KNOWN_COLUMNS]
    if unknown:
        raise ImportRejected([_err(1, h, "Unknown column.") for h in unknown])
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            number = reader.line_num
            if len(cells) > len(header):
                raise ImportRejected([_err(number, "row", "More cells than columns in the header.")])
            rows.append(
                (number, {h: c.strip() for h, c in zip(header, cells, strict=False) if h and c.strip()})
            )
    except csv.Error as exc:
        raise ImportRejected([_err(reader.line_num, "file", f"Not valid CSV: {exc}")])
    return rows


def _err(row: int, column: str, message: str) -> dict[str, Any]:
    return {"row": row, "column": column, "message": message}


# ---------------------------------------------------------------- cell parsers


def _split_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v for v in re.split(r"[;|,\s]+", str(value or "")) if v]


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n", ""):
        return False
    return None


def _parse_grants(value: Any) -> list[dict[str, Any]]:
    """JSON: a list of grant objects. CSV: 'kind:name=action|action; kind:name=action'."""
    if isinstance(value, list):
        return value
    grants = []
    for part in str(value).split(";"):
        part = part.strip()
        if not part:
            continue
        resource, _, actions = part.partition("=")
        kind, _, name = resource.partition(":")
        grants.append(
            {"resource_kind": kind.strip(), "resource_name": name.strip(), "actions": _split_list(actions)}
        )
    return grants


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"row": exc.messages}


# ---------------------------------------------------------------- planning


class _Lookups:
    """Everything the plan needs from the database, fetched with a handful of set-based queries."""

    def __init__(
        self, raw_rows: list[tuple[int, dict[str, Any]]], default_source: str, lock: bool, agreed: int | None
    ):
        self.agreed = agreed  # the importer: naming themselves backup owner needs no acceptance
        self.routed_tiers = routes.activation().routed_tiers()
        usernames = {str(r.get(c)) for _, r in raw_rows for c in PERSON_COLUMNS if r.get(c)}
        slugs = {str(r["team"]) for _, r in raw_rows if r.get("team")}
        self.users = {u.username: u for u in User.objects.filter(username__in=usernames, is_active=True)}
        self.teams = {t.slug: t for t in Team.objects.filter(slug__in=slugs)}
        keys = {
            (str(r.get("source") or default_source), str(r.get("external_id") or "")) for _, r in raw_rows
        }
        existing = Identity.objects.filter(
            source__in={s for s, _ in keys}, external_id__in={x for _, x in keys if x}
        ).select_related("owner", "backup_owner", "team")
        if lock:
            existing = existing.select_for_update(of=("self",))
        self.existing = {(i.source, i.external_id): i for i in existing if (i.source, i.external_id) in keys}
        ids = [i.pk for i in self.existing.values()]
        self.grants: dict[int, list[Grant]] = {pk: [] for pk in ids}
        for grant in Grant.objects.current().filter(identity_id__in=ids).order_by("pk"):
            self.grants[grant.identity_id].append(grant)
        self.credentials: dict[int, set[tuple[str, str]]] = {pk: set() for pk in ids}
        for identity_id, kind, label in Credential.objects.filter(
            identity_id__in=ids, revoked_at__isnull=True
        ).values_list("identity_id", "kind", "label"):
            self.credentials[identity_id].add((kind, label))
        self.nominated: dict[int, int] = dict(
            OwnershipTransfer.objects.filter(
                identity_id__in=ids,
                state=OwnershipTransfer.State.PROPOSED,
                role=OwnershipTransfer.Role.BACKUP_OWNER,
            ).values_list("identity_id", "to_owner_id")
        )
        names = {str(r["name"]) for _, r in raw_rows if r.get("name")}
        self.names = dict(Identity.objects.filter(name__in=names).values_list("name", "pk"))


def _grant_dict(grant: Grant) -> dict[str, Any]:
    return {
        "resource_kind": grant.resource_kind,
        "resource_name": grant.resource_name,
        "actions": list(grant.actions),
        "expires_at": grant.expires_at,
    }


def _grant_key(grant: dict[str, Any]) -> tuple:
    expires = grant["expires_at"].isoformat() if grant.get("expires_at") else None
    return (grant["resource_kind"], grant["resource_name"], tuple(sorted(grant["actions"])), expires)


def _shown(value: Any) -> Any:
    if isinstance(value, User):
        return value.username
    if isinstance(value, Team):
        return value.slug
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _plan_row(
    number: int, raw: dict[str, Any], ctx: _Lookups, default_source: str, errors: list
) -> PlannedRow | None:
    problems: list[dict[str, Any]] = []
    source = str(raw.get("source") or default_source)
    external_id = str(raw.get("external_id") or "").strip()
    if not external_id:
        problems.append(_err(number, "external_id", "Required: rows are matched on source + external_id."))
    existing = ctx.existing.get((source, external_id))
    values: dict[str, Any] = {}
    for column in TEXT_COLUMNS:
        if raw.get(column) not in (None, ""):
            values[column] = str(raw[column]).strip()
    for column in PERSON_COLUMNS:
        if raw.get(column):
            user = ctx.users.get(str(raw[column]))
            if user is None:
                problems.append(_err(number, column, f"No active user named '{raw[column]}'."))
            values[column] = user
    if raw.get("team"):
        values["team"] = ctx.teams.get(str(raw["team"]))
        if values["team"] is None:
            problems.append(_err(number, "team", f"No team with slug '{raw['team']}'."))
    if raw.get("environments") not in (None, ""):
        values["environments"] = sorted(set(_split_list(raw["environments"])))
    if raw.get("autonomous") not in (None, ""):
        values["autonomous"] = _parse_bool(raw["autonomous"])
        if values["autonomous"] is None:
            problems.append(_err(number, "autonomous", "Use true or false."))
    if existing is None:
        for column in ("name", "kind"):
            if not values.get(column):
                problems.append(_err(number, column, "Required for a new identity."))
    name = values.get("name") or (existing.name if existing else "")
    if values.get("name") and ctx.names.get(values["name"], existing.pk if existing else None) != (
        existing.pk if existing else None
    ):
        problems.append(_err(number, "name", f"Another identity is already named '{values['name']}'."))
    owner = values.get("owner", existing.owner if existing else None)
    status = existing.status if existing else ""
    if existing is None:
        status = str(raw.get("status") or (Identity.Status.ACTIVE if owner else Identity.Status.DISCOVERED))
        if status not in IMPORTABLE_STATUSES:
            problems.append(
                _err(number, "status", f"Import creates only {', '.join(IMPORTABLE_STATUSES)} identities.")
            )
    check = {k: v for k, v in values.items() if v is not None or k in PERSON_COLUMNS}
    check.setdefault("owner", owner)
    check.setdefault("backup_owner", existing.backup_owner if existing else None)
    # The match keys are written too: hold them to the model's lengths like every other text column.
    check.update(source=source, external_id=external_id)
    try:
        validate_identity_fields(check, status=status)
    except ValidationError as exc:
        for column, messages in _messages(exc).items():
            problems += [_err(number, column, m) for m in messages]
    grants = None
    if raw.get("grants") not in (None, ""):
        try:
            grants = validate_grants(_parse_grants(raw["grants"]))
        except ValidationError as exc:
            problems += [_err(number, "grants", m) for ms in _messages(exc).values() for m in ms]
    credentials_raw = raw.get("credentials") or []
    if raw.get("credential_kind") and not credentials_raw:
        credentials_raw = [
            {
                "kind": raw["credential_kind"],
                **{k: raw[c] for c, k in CREDENTIAL_COLUMNS.items() if raw.get(c)},
            }
        ]
    credentials: list[dict[str, Any]] = []
    try:
        credentials = validate_credentials(credentials_raw)
    except ValidationError as exc:
        column = "credentials" if raw.get("credentials") else "credential_kind"
        problems += [_err(number, column, m) for ms in _messages(exc).values() for m in ms]
    last_used_at, err = parse_time(raw.get("last_used_at"))
    if err:
        problems.append(_err(number, "last_used_at", err))
    if problems:
        errors.extend(problems)
        return None

    nominee = values.get("backup_owner")
    if nominee is not None and nominee.pk != ctx.agreed:
        current = existing.backup_owner_id if existing else None
        values.pop("backup_owner")
        if nominee.pk == current or (existing and ctx.nominated.get(existing.pk) == nominee.pk):
            nominee = None  # already the backup owner, or already asked
    else:
        nominee = None
    planned = PlannedRow(
        row=number,
        action="create",
        external_id=external_id,
        source=source,
        name=name,
        identity=existing,
        values=values,
        grants=grants,
        credentials=credentials,
        status=status,
        last_used_at=last_used_at,
        nominee=nominee,
    )
    merged = {f: values.get(f, getattr(existing, f, None)) for f in COMPARED_FIELDS}
    current_actions = [a for g in ctx.grants.get(existing.pk, []) for a in g.actions] if existing else []
    actions = [a for g in grants for a in g["actions"]] if grants is not None else current_actions
    risk = assess(
        kind=merged["kind"],
        environments=merged["environments"] or [],
        actions=actions,
        data_classification=merged["data_classification"] or "internal",
        autonomous=bool(merged["autonomous"]),
    )
    if existing is None:
        planned.values = {**values, "risk_tier": risk.tier, "risk_reasons": risk.reasons}
        planned.changes = {
            k: {"from": None, "to": _shown(v)} for k, v in planned.values.items() if k != "risk_reasons"
        }
        if grants:
            planned.changes["grants"] = {"from": [], "to": [_grant_text(g) for g in grants]}
        if nominee is not None:
            planned.changes["backup_owner"] = {
                "from": None,
                "to": nominee.username,
                "awaits_acceptance": True,
            }
        if status == Identity.Status.ACTIVE and risk.tier in ctx.routed_tiers:
            # One person imports: a tier whose route has more steps waits for it, proposed.
            planned.status = Identity.Status.PROPOSED
            planned.awaits_approval = True
        return planned
    for column, value in values.items():
        if getattr(existing, column) != value:
            planned.changes[column] = {"from": _shown(getattr(existing, column)), "to": _shown(value)}
    if nominee is not None:
        planned.changes["backup_owner"] = {
            "from": _shown(existing.backup_owner),
            "to": nominee.username,
            "awaits_acceptance": True,
        }
    tier = max_tier(existing.risk_tier, risk.tier)
    if tier != existing.risk_tier:
        planned.changes["risk_tier"] = {"from": existing.risk_tier, "to": tier}
        planned.values.update(risk_tier=tier, risk_reasons=risk.reasons)
    if grants is not None:
        current = [_grant_dict(g) for g in ctx.grants[existing.pk]]
        before = [_grant_key(g) for g in current]
        if sorted(before) != sorted(_grant_key(g) for g in grants):
            planned.changes["grants"] = {
                "from": [_grant_text(g) for g in current],
                "to": [_grant_text(g) for g in grants],
            }
    planned.credentials = [
        c for c in credentials if (c["kind"], c["label"]) not in ctx.credentials[existing.pk]
    ]
    if planned.credentials:
        planned.changes["credentials"] = {
            "from": None,
            "to": [f"{c['kind']} {c['label']}".strip() for c in planned.credentials],
        }
    if last_used_at and (existing.last_used_at is None or existing.last_used_at < last_used_at):
        planned.changes["last_used_at"] = {
            "from": _shown(existing.last_used_at),
            "to": last_used_at.isoformat(),
        }
    else:
        planned.last_used_at = None
    planned.action = "update" if planned.changes else "unchanged"
    return planned


def _grant_text(grant: dict[str, Any]) -> str:
    text = f"{grant['resource_kind']}:{grant['resource_name']}={'|'.join(sorted(grant['actions']))}"
    return f"{text} (until {grant['expires_at'].isoformat()})" if grant.get("expires_at") else text


def plan_import(
    raw_rows, *, default_source: str = DEFAULT_SOURCE, lock: bool = False, agreed: int | None = None
) -> ImportPlan:
    ctx = _Lookups(raw_rows, default_source, lock, agreed)
    errors: list[dict[str, Any]] = []
    planned: list[PlannedRow] = []
    seen_keys: dict[tuple[str, str], int] = {}
    seen_names: dict[str, int] = {}
    for number, raw in raw_rows:
        row = _plan_row(number, raw, ctx, default_source, errors)
        if row is None:
            continue
        key = (row.source, row.external_id)
        if key in seen_keys:
            errors.append(
                _err(number, "external_id", f"Same source and external_id as row {seen_keys[key]}.")
            )
        seen_keys.setdefault(key, number)
        if row.name in seen_names:
            errors.append(_err(number, "name", f"Same name as row {seen_names[row.name]}."))
        seen_names.setdefault(row.name, number)
        planned.append(row)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e["row"]))
    return ImportPlan(rows=planned)


# ---------------------------------------------------------------- the service


@transaction.atomic
def import_identities(
    actor, content: bytes, *, filename: str = "", source: str = "", dry_run: bool = True
) -> ImportPlan:
    """Plan the import and, unless `dry_run`, apply it in this one transaction (all-or-nothing)."""
    actor = as_actor(actor)
    require_governor(actor, "import identities")
    source = (source or DEFAULT_SOURCE).strip()[:60]
    raw_rows = read_rows(content, filename)
    plan = plan_import(
        raw_rows, default_source=source, lock=not dry_run, agreed=getattr(actor.user, "pk", None)
    )
    plan.digest = hashlib.sha256(content).hexdigest()
    plan.dry_run = dry_run
    if not dry_run:
        _apply(actor, plan, filename)
        _route_and_nominate(actor, plan, filename)
    return plan


def _apply(actor, plan: ImportPlan, filename: str) -> None:
    now = timezone.now()
    creates = plan.of("create")
    new_identities = [
        Identity(
            source=row.source,
            external_id=row.external_id,
            status=row.status,
            approved_at=now if row.status == Identity.Status.ACTIVE else None,
            last_used_at=row.last_used_at,
            created_at=now,
            **{k: v for k, v in row.values.items() if v is not None},
        )
        for row in creates
    ]
    Identity.objects.bulk_create(new_identities, batch_size=1000)
    for row, identity in zip(creates, new_identities, strict=True):
        row.identity = identity
    updates = plan.of("update")
    regranted: list[int] = []
    for row in updates:
        identity = row.identity
        for column, value in row.values.items():
            setattr(identity, column, value)
        if row.last_used_at:
            identity.last_used_at = row.last_used_at
        identity.version += 1
        identity.updated_at = now
        if row.grants is not None and "grants" in row.changes:
            regranted.append(identity.pk)
    if updates:
        columns = {c for row in updates for c in row.values} | {"last_used_at", "version", "updated_at"}
        Identity.objects.bulk_update([r.identity for r in updates], sorted(columns), batch_size=500)
    # The file's grants replace the current ones of every identity whose grants changed.
    Grant.objects.current(now).filter(identity_id__in=regranted).update(
        ended_at=now, end_reason="replaced by import"
    )
    Grant.objects.bulk_create(
        [
            Grant(identity=row.identity, origin=Grant.Origin.IMPORT, created_at=now, **g)
            for row in plan.rows
            if row.grants and (row.action == "create" or "grants" in row.changes)
            for g in row.grants
        ],
        batch_size=1000,
    )
    Credential.objects.bulk_create(
        [Credential(identity=row.identity, **c) for row in [*creates, *updates] for c in row.credentials],
        batch_size=1000,
    )
    reason = f"Imported from {filename or 'a file'} (source {plan.rows[0].source if plan.rows else ''})."
    for row in creates:
        audit.record(
            actor,
            "identity.created",
            row.identity,
            after={**snapshot(row.identity), "changes": row.changes},
            reason=reason,
        )
    for row in updates:
        audit.record(
            actor,
            "identity.updated",
            row.identity,
            before={k: v["from"] for k, v in row.changes.items()},
            after={k: v["to"] for k, v in row.changes.items()},
            reason=reason,
        )
    audit.record(
        actor,
        "inventory.imported",
        ("inventory.import", plan.digest[:16], filename or "import"),
        after={**plan.as_dict()["counts"], "sha256": plan.digest},
        reason=reason,
    )


def _route_and_nominate(actor, plan: ImportPlan, filename: str) -> None:
    """After the rows are written: open the activation requests and ask the named backup owners."""
    from inventory.ownership import create_transfers

    reason = f"Imported from {filename or 'a file'} by {actor.label}."
    waiting = plan.awaiting_approval
    if waiting and actor.user is None:
        # No person imported it (a job): nobody can be its requester, so it waits in triage instead.
        Identity.objects.filter(pk__in=[r.identity.pk for r in waiting]).update(
            status=Identity.Status.DISCOVERED
        )
    else:
        for row in waiting:
            routes.activation().request_activation(
                actor, row.identity, origin=ActivationRequest.Origin.IMPORT, reason=reason
            )
    by_nominee: dict[int, tuple[User, list[Identity]]] = {}
    for row in plan.rows:
        if row.nominee is not None:
            by_nominee.setdefault(row.nominee.pk, (row.nominee, []))[1].append(row.identity)
    for nominee, identities in by_nominee.values():
        create_transfers(actor, identities, nominee, reason, role=OwnershipTransfer.Role.BACKUP_OWNER)
