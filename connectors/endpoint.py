"""Reports from endpoints (tools/steward-scan) for an `endpoint_scan` connector.

A report names one host and one person, and the IDE extensions and MCP servers found there. Each
extension (across every IDE and every endpoint) is one identity, `ide_plugin:<extension id>` (an AI
assistant when it is a known one); each MCP server is one identity, `mcp_server:<name>:<command or
url>`. The connector's SourceRecord of each keeps the per-host sightings (`details.hosts`), so its
installations are counted, not multiplied. A new identity is `discovered` and proposed to the
reporting person as owner, as an ownership transfer they accept or decline.

A report is checked whole before anything is written (400 naming each problem), applied in one
transaction, and idempotent per host and day: the same report twice changes nothing; a later report
of the same host replaces that host's sightings; an older one is ignored. An extension no longer on
any endpoint flags its identity `vanished`, as a sync's would.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.models import Connector, ConnectorRun, SourceRecord
from connectors.services import connector_actor
from connectors.sync import VANISHED_REASON, create_discovered
from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import NotAllowed
from governance.people.models import User
from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from inventory.secrets_guard import looks_like_secret
from inventory.usage import reports_for_any_identity

MAX_BYTES = 1024 * 1024
MAX_ITEMS = 2000
MAX_NAMES = 100  # environment variables or headers per MCP server
MAX_ERRORS = 50
FIELDS = {"host", "user", "scanned_at", "scanner_version", "extensions", "mcp_servers"}
EXTENSION_FIELDS = {"id", "version", "publisher", "ide", "name"}
SERVER_FIELDS = {"name", "transport", "command", "url", "env", "headers", "client", "config"}
TRANSPORTS = ("stdio", "http", "sse")
HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
# Names of variables that hold a secret by convention: *_TOKEN, *_KEY, *SECRET*, *PASSWORD*.
SECRET_NAME = re.compile(r"(_TOKEN|_KEY)$|SECRET|PASSWORD", re.IGNORECASE)
# Extensions that are AI assistants themselves (their kind is ai_assistant, not ide_plugin).
AI_ASSISTANTS = {
    "github.copilot",
    "github.copilot-chat",
    "com.github.copilot",
    "anthropic.claude-code",
    "saoudrizwan.claude-dev",
    "continue.continue",
    "codeium.codeium",
    "tabnine.tabnine-vscode",
    "sourcegraph.cody-ai",
    "amazonwebservices.amazon-q-vscode",
    "google.geminicodeassist",
    "openai.chatgpt",
    "com.intellij.ml.llm",
}


def secret_names(names: list[str]) -> list[str]:
    return sorted(n for n in names if SECRET_NAME.search(n))


# ---------------------------------------------------------------- checking the report


def _text(value: Any, limit: int, *, required: bool = False) -> str | None:
    """The string, or None when it is not one (or empty when required, or too long)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        return None
    return value.strip()


def _names(value: Any, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        problems.append(f"{where}: give the names only (a list), never their values")
        return []
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        problems.append(f"{where}: a list of at most {MAX_NAMES} names")
        return []
    bad = [n for n in value if not isinstance(n, str) or not ENV_NAME.match(n)]
    if bad:
        problems.append(f"{where}: not a variable or header name: {str(bad[0])[:40]!r}")
        return []
    return sorted(set(value))


def _is_object(raw: Any, where: str, fields: set[str], shape: str, problems: list[str]) -> bool:
    """Whether an item of the report is an object (`shape` says which fields it wants); an unknown field
    is a problem too, but the item is still read."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: an object with {shape}")
        return False
    unknown = sorted(set(raw) - fields)
    if unknown:
        problems.append(f"{where}: unknown field {unknown[0]!r}")
    return True


def _optional_texts(raw: dict, where: str, limits: tuple[tuple[str, int], ...], problems: list[str]) -> dict:
    """The item's optional text fields (empty when absent), each at most its limit."""
    values = {}
    for key, limit in limits:
        value = _text(raw.get(key), limit)
        if value is None:
            problems.append(f"{where}.{key}: text of at most {limit} characters")
        values[key] = value or ""
    return values


def _required_text(raw: dict, where: str, key: str, what: str, problems: list[str]) -> str:
    """The item's required text field (at most 200 characters); empty, with a problem, when it is not."""
    value = _text(raw.get(key), 200, required=True)
    if value is None:
        problems.append(f"{where}.{key}: {what} (at most 200 characters)")
    return value or ""


def _check_extension(index: int, raw: Any, problems: list[str]) -> dict[str, str] | None:
    where = f"extensions[{index}]"
    if not _is_object(raw, where, EXTENSION_FIELDS, "id, version, publisher and ide", problems):
        return None
    ext_id = _required_text(raw, where, "id", "the extension's id", problems)
    limits = (("version", 100), ("publisher", 200), ("ide", 100), ("name", 200))
    return {"id": ext_id.lower(), **_optional_texts(raw, where, limits, problems)}


def _check_server(index: int, raw: Any, problems: list[str]) -> dict[str, Any] | None:
    where = f"mcp_servers[{index}]"
    if not _is_object(raw, where, SERVER_FIELDS, "name, transport, command or url, env", problems):
        return None
    name = _required_text(raw, where, "name", "the server's name", problems)
    transport = raw.get("transport")
    if transport not in TRANSPORTS:
        problems.append(f"{where}.transport: one of {', '.join(TRANSPORTS)}")
    command = _text(raw.get("command"), 300)
    url = _text(raw.get("url"), 500)
    if command is None or url is None or bool(command) == bool(url):
        problems.append(f"{where}: give either command (at most 300 characters) or url, not both")
    elif url:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and parts.hostname
            hidden = parts.username or parts.password or parts.query or parts.fragment
        except ValueError:
            ok, hidden = False, False
        if not ok:
            problems.append(f"{where}.url: an absolute http(s) URL")
        elif hidden:
            problems.append(f"{where}.url: without user name, password, query string or fragment")
    if (command and looks_like_secret(command)) or (url and looks_like_secret(url)):
        problems.append(f"{where}: the command or url looks like a secret value; send names only")
    return {
        "name": name,
        "transport": transport if transport in TRANSPORTS else "",
        "command": command or "",
        "url": url or "",
        "env": _names(raw.get("env"), f"{where}.env", problems),
        "headers": _names(raw.get("headers"), f"{where}.headers", problems),
        **_optional_texts(raw, where, (("client", 100), ("config", 300)), problems),
    }


def check_report(data: Any) -> dict[str, Any]:
    """The report, cleaned; a ValidationError naming every problem (per field) otherwise."""
    if not isinstance(data, dict):
        raise ValidationError({"detail": ["Send the report as a JSON object."]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - FIELDS):
        errors[key] = ["Unknown field."]
    host = _text(data.get("host"), 253, required=True)
    if host is None or not HOST.match(host):
        errors["host"] = ["The endpoint's host name (letters, digits, '.', '-', '_'; at most 253)."]
    user = _text(data.get("user"), 150, required=True)
    if user is None:
        errors["user"] = ["The person's user name on the endpoint (at most 150 characters)."]
    scanned_at = parse_datetime(data["scanned_at"]) if isinstance(data.get("scanned_at"), str) else None
    if scanned_at is None or timezone.is_naive(scanned_at):
        errors["scanned_at"] = ["When the scan ran: an ISO 8601 date and time with its offset."]
    elif scanned_at > timezone.now() + timedelta(hours=1):
        errors["scanned_at"] = ["Lies in the future; check the endpoint's clock."]
    lists: dict[str, list] = {}
    for key in ("extensions", "mcp_servers"):
        value = data.get(key, [])
        if not isinstance(value, list):
            errors[key] = ["A list (empty when nothing was found)."]
            value = []
        lists[key] = value
    total = len(lists["extensions"]) + len(lists["mcp_servers"])
    if total > MAX_ITEMS:
        errors["report"] = [f"At most {MAX_ITEMS:,} extensions and MCP servers in one report; got {total:,}."]
        raise ValidationError(errors)
    extension_problems: list[str] = []
    extensions = [_check_extension(i, raw, extension_problems) for i, raw in enumerate(lists["extensions"])]
    server_problems: list[str] = []
    servers = [_check_server(i, raw, server_problems) for i, raw in enumerate(lists["mcp_servers"])]
    if extension_problems:
        errors["extensions"] = extension_problems[:MAX_ERRORS]
    if server_problems:
        errors["mcp_servers"] = server_problems[:MAX_ERRORS]
    if errors:
        raise ValidationError(errors)
    return {
        "host": host.lower(),
        "user": user,
        "scanned_at": scanned_at,
        "extensions": extensions,
        "mcp_servers": servers,
    }


# ---------------------------------------------------------------- what the report shows


@dataclass
class Seen:
    """One identity as this report shows it: what it is, and its sighting on this host."""

    external_id: str
    object_type: str  # "extension" or "mcp_server"
    name: str
    kind: str
    vendor: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    sighting: dict[str, Any] = field(default_factory=dict)


def _seen(report: dict[str, Any], day: date) -> dict[str, Seen]:
    found: dict[str, Seen] = {}
    base = {"user": report["user"], "seen_on": day.isoformat()}
    for ext in report["extensions"]:
        external_id = f"ide_plugin:{ext['id']}"
        item = found.get(external_id)
        if item is None:
            kind = Identity.Kind.AI_ASSISTANT if ext["id"] in AI_ASSISTANTS else Identity.Kind.IDE_PLUGIN
            item = found[external_id] = Seen(
                external_id,
                "extension",
                ext["name"] or ext["id"],
                kind,
                vendor=ext["publisher"],
                details={"extension_id": ext["id"], "publisher": ext["publisher"]},
                sighting={**base, "ides": [], "versions": []},
            )
        item.sighting["ides"] = sorted({*item.sighting["ides"], ext["ide"]} - {""})
        item.sighting["versions"] = sorted({*item.sighting["versions"], ext["version"]} - {""})
    for server in report["mcp_servers"]:
        target = server["command"] or server["url"]
        external_id = f"mcp_server:{server['name']}:{target}"[:200]
        item = found.get(external_id)
        if item is None:
            item = found[external_id] = Seen(
                external_id,
                "mcp_server",
                server["name"],
                Identity.Kind.MCP_SERVER,
                details={
                    "server": server["name"],
                    "transport": server["transport"],
                    "command": server["command"],
                    "url": server["url"],
                },
                sighting={**base, "env": [], "headers": [], "configs": []},
            )
        sighting = item.sighting
        sighting["env"] = sorted({*sighting["env"], *server["env"]})
        sighting["headers"] = sorted({*sighting["headers"], *server["headers"]})
        config = f"{server['client']}: {server['config']}".strip(": ")
        sighting["configs"] = sorted({*sighting["configs"], config} - {""})
    return found


def _fingerprint(details: dict[str, Any]) -> str:
    text = json.dumps(details, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _summarise(details: dict[str, Any]) -> dict[str, Any]:
    """The counts and the union of secret-looking names, kept with the sightings they come from."""
    hosts = details.get("hosts", {})
    details["installations"] = len(hosts)
    if "server" in details:
        details["secret_env_names"] = secret_names(
            sorted({name for sighting in hosts.values() for name in sighting.get("env", [])})
        )
    return details


# ---------------------------------------------------------------- applying it


def _mark_vanished(actor, identity: Identity, at, verb: str, where: dict[str, Any], reason: str = "") -> None:
    """Set the identity's `vanished` marker (`at` a time) or clear it (`at` None): a new version, audited
    as `verb` with where it was (or was no longer) seen."""
    vanished = at is not None
    Identity.objects.filter(pk=identity.pk).update(
        vanished=vanished, vanished_at=at, version=F("version") + 1
    )
    audit.record(
        actor,
        verb,
        identity,
        before={"vanished": not vanished},
        after={"vanished": vanished, **where},
        reason=reason,
    )


def _person(username: str) -> User | None:
    """The reporting person in Steward: the same user name (or e-mail address), active."""
    people = User.objects.filter(is_active=True)
    return people.filter(username__iexact=username).first() or (
        people.filter(email__iexact=username).first() if "@" in username else None
    )


@transaction.atomic
def ingest_report(actor, connector: Connector, data: Any) -> dict[str, Any]:
    """Apply one endpoint's report to the inventory; return what it changed."""
    actor = as_actor(actor)
    if not reports_for_any_identity(actor):
        raise NotAllowed(
            "Endpoint reports come with a token of scope 'report' (issue_api_token USER --scope report), "
            "or from IAM or Security."
        )
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    if connector.kind != Connector.Kind.ENDPOINT_SCAN:
        raise ValidationError(
            {"connector": [f"'{connector.name}' is {connector.kind}; reports go to an endpoint_scan one."]}
        )
    report = check_report(data)
    host = report["host"]
    day = report["scanned_at"].date()
    seen = _seen(report, day)
    source = connector_actor(connector)
    now = timezone.now()
    person = _person(report["user"])
    counts = {"discovered": 0, "changed": 0, "unchanged": 0, "removed": 0, "stale": 0, "proposed": 0}
    changes: list[dict[str, Any]] = []
    ledger = (
        SourceRecord.objects.select_for_update()
        .filter(connector=connector, external_id=f"endpoint:{host}")
        .first()
    )
    if ledger is not None and ledger.details.get("last_report_on", "") > day.isoformat():
        # An older report than the one applied (sent late): it changes nothing.
        counts["stale"] = len(seen)
        return _answer(report, day, person, None, counts, [])

    records = {
        r.external_id: r
        for r in SourceRecord.objects.select_for_update().filter(
            connector=connector, external_id__in=list(seen)
        )
    }
    # This host's sightings of what the report no longer lists.
    for record in (
        SourceRecord.objects.select_for_update()
        .filter(connector=connector, details__hosts__has_key=host)
        .exclude(external_id__in=list(seen))
    ):
        records[record.external_id] = record
    identities = {
        i.external_id: i
        for i in Identity.objects.select_for_update(of=("self",)).filter(
            source=connector.name, external_id__in=list(records) + list(seen)
        )
    }
    open_transfers = set(
        OwnershipTransfer.objects.filter(
            identity__in=list(identities.values()),
            state=OwnershipTransfer.State.PROPOSED,
            role=OwnershipTransfer.Role.OWNER,
        ).values_list("identity_id", flat=True)
    )
    taken: set[str] = set()
    result: list[dict[str, Any]] = []
    to_propose: list[Identity] = []

    for external_id, record in sorted(records.items()):
        if external_id in seen:
            continue
        details = dict(record.details)
        details["hosts"] = {h: s for h, s in details.get("hosts", {}).items() if h != host}
        _summarise(details)
        record.details = details
        record.fingerprint = _fingerprint(details)
        identity = identities.get(external_id)
        if not details["hosts"]:
            record.gone_at = now
            live = identity is not None and identity.status != Identity.Status.DECOMMISSIONED
            if live and not identity.vanished:
                where = {"connector": connector.name, "external_id": external_id}
                _mark_vanished(source, identity, now, "identity.vanished", where, reason=VANISHED_REASON)
        record.save()
        counts["removed"] += 1
        changes.append({"change": "removed", "external_id": external_id, "host": host})

    for external_id, item in seen.items():
        record = records.get(external_id)
        identity = identities.get(external_id)
        details = dict(record.details) if record is not None else dict(item.details)
        hosts = dict(details.get("hosts", {}))
        hosts[host] = item.sighting
        details.update(item.details)
        details["hosts"] = hosts
        _summarise(details)
        if identity is None:
            identity = _discover(source, connector, item, taken)
            identities[external_id] = identity
            counts["discovered"] += 1
            changes.append({"change": "discovered", "external_id": external_id, "identity": identity.pk})
        if (
            person is not None
            and identity.owner_id is None
            and identity.pk not in open_transfers
            and person.username not in details.get("proposed_owners", [])
            and identity.status != Identity.Status.DECOMMISSIONED
        ):
            to_propose.append(identity)
            open_transfers.add(identity.pk)
            details["proposed_owners"] = sorted({*details.get("proposed_owners", []), person.username})
        fingerprint = _fingerprint(details)
        if record is None:
            record = SourceRecord.objects.create(
                connector=connector,
                external_id=external_id,
                identity=identity,
                object_type=item.object_type,
                name=item.name[:200],
                details=details,
                fingerprint=fingerprint,
                last_seen_at=now,
            )
        elif record.fingerprint != fingerprint or record.gone_at is not None:
            back = record.gone_at is not None or identity.vanished
            record.details, record.fingerprint = details, fingerprint
            record.identity, record.gone_at, record.last_seen_at = identity, None, now
            record.save()
            if back:
                where = {"connector": connector.name, "host": host}
                _mark_vanished(source, identity, None, "identity.changed_at_source", where)
            if external_id not in {c["external_id"] for c in changes}:
                counts["changed"] += 1
                changes.append({"change": "changed", "external_id": external_id, "identity": identity.pk})
        else:
            counts["unchanged"] += 1
        row = {
            "external_id": external_id,
            "identity": identity.pk,
            "kind": identity.kind,
            "installations": details["installations"],
        }
        if details.get("secret_env_names"):
            row["secret_env_names"] = details["secret_env_names"]
        if to_propose and to_propose[-1] is identity:
            row["owner_proposed_to"] = person.username
        result.append(row)

    _keep_ledger(connector, ledger, host, report, day, now)
    if to_propose:
        # One proposal for everything new on this endpoint: the person accepts or declines each.
        ownership.create_transfers(
            source,
            to_propose,
            person,
            f"Found on {host}, used by {person.username} (connector {connector.name}): accept to own it, "
            "or decline if it is not yours.",
            proposed_by=source.label,
        )
        counts["proposed"] = len(to_propose)
    run = None
    if changes or to_propose:
        run = ConnectorRun.objects.create(
            connector=connector,
            state=ConnectorRun.State.SUCCEEDED,
            trigger="report",
            actor=actor.label,
            seen=len(seen),
            discovered=counts["discovered"],
            changed=counts["changed"],
            vanished=counts["removed"],
            progress={"phase": "done", "host": host, "day": day.isoformat()},
            report=changes[:200],
            started_at=now,
            finished_at=now,
        )
        Connector.objects.filter(pk=connector.pk).update(last_run_at=now, last_success_at=now)
        audit.record(
            actor,
            "connector.report_received",
            connector,
            after={
                "run": run.pk,
                "host": host,
                "user": report["user"],
                "day": day.isoformat(),
                **{k: v for k, v in counts.items() if k != "unchanged"},
            },
        )
        transaction.on_commit(_sweep)
    return _answer(report, day, person, run, counts, result)


def _answer(report, day, person, run, counts, identities) -> dict[str, Any]:
    return {
        "host": report["host"],
        "user": report["user"],
        "day": day.isoformat(),
        "person": person.username if person is not None else None,
        "run": run.pk if run is not None else None,
        **counts,
        "identities": identities,
    }


def _keep_ledger(connector, ledger, host: str, report: dict[str, Any], day: date, now) -> None:
    """The host's own record (`endpoint:<host>`, no identity): who uses it and its latest report's day,
    which orders the reports of one host."""
    details = {
        "host": host,
        "user": report["user"],
        "last_report_on": day.isoformat(),
        "extensions": len(report["extensions"]),
        "mcp_servers": len(report["mcp_servers"]),
    }
    fingerprint = _fingerprint(details)
    if ledger is None:
        SourceRecord.objects.create(
            connector=connector,
            external_id=f"endpoint:{host}",
            object_type="endpoint",
            name=host,
            details=details,
            fingerprint=fingerprint,
            last_seen_at=now,
        )
    elif ledger.fingerprint != fingerprint:
        ledger.details, ledger.fingerprint, ledger.last_seen_at = details, fingerprint, now
        ledger.save()


def _discover(actor: Actor, connector: Connector, item: Seen, taken: set[str]) -> Identity:
    what = "MCP server" if item.object_type == "mcp_server" else "IDE extension"
    identity = create_discovered(
        actor,
        connector,
        _Named(item.object_type, item.name),
        taken,
        kind=item.kind,
        external_id=item.external_id,
        purpose=f"{what} found on endpoints by connector '{connector.name}'; not approved yet: triage it.",
        vendor=item.vendor[:100],
    )
    audit.record(
        actor,
        "identity.discovered_at_source",
        identity,
        after={"connector": connector.name, "external_id": item.external_id, **item.details},
    )
    return identity


@dataclass
class _Named:
    """What sync's unique-name helper reads of a found identity."""

    object_type: str
    name: str


def _sweep() -> None:
    from connectors.sync import _sweep as sweep

    sweep()
