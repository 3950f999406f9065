"""What the connectors tell the governance sweep: three finding rules, fed as finding sources.

- `unmanaged_identity`: found at a source and not yet approved (discovered or proposed).
- `unapproved_entitlement`: the source gives more than the identity's current grants; the
  evidence holds the difference.
- `connector_failing`: the connector's last run failed (on the connector's own identity).
- `static_secret_in_mcp_config`: an MCP server found on endpoints (endpoint_scan) is given
  environment variables whose names look like secrets; the evidence names them and the hosts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.models import Connector, SourceRecord
from governance.findings.models import Rule, Severity
from governance.findings.rules import Hit
from governance.jobs import registry
from inventory.models import Grant, Identity

SENSITIVE = {"admin", "read_secrets", "write_secrets", "deploy"}
CHUNK = 1000


def uncovered(entitlements: list[dict[str, Any]], grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entitlements' actions no grant covers, per resource: a grant covers a resource of the same
    kind and name (or named '*'); its `admin` covers every action."""
    granted: dict[tuple[str, str], set[str]] = {}
    for grant in grants:
        key = (grant["resource_kind"], grant["resource_name"])
        granted.setdefault(key, set()).update(grant["actions"])
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for entitlement in entitlements:
        key = (entitlement.get("resource_kind", ""), entitlement.get("resource_name", ""))
        allowed = granted.get(key, set()) | granted.get((key[0], "*"), set())
        if "admin" in allowed:
            continue
        missing = set(entitlement.get("actions", [])) - allowed
        if not missing:
            continue
        item = result.setdefault(
            key,
            {"resource_kind": key[0], "resource_name": key[1], "actions": set(), "via": [], "refs": []},
        )
        item["actions"] |= missing
        item["via"].append(entitlement.get("via", ""))
        item["refs"].append(entitlement.get("ref", ""))
    return [{**item, "actions": sorted(item["actions"])} for item in result.values()]


def unmanaged_identities(now: datetime) -> Iterator[Hit]:
    names = list(Connector.objects.values_list("name", flat=True))
    rows = (
        Identity.objects.filter(
            source__in=names, status__in=(Identity.Status.DISCOVERED, Identity.Status.PROPOSED)
        )
        .values_list("pk", "name", "source", "status", "risk_tier", "external_id")
        .iterator(chunk_size=CHUNK)
    )
    for pk, name, source, status, tier, external_id in rows:
        yield Hit(
            pk,
            Severity.HIGH if tier in ("high", "critical") else Severity.MEDIUM,
            {
                "summary": f"Found at the source by connector {source} and not approved yet ({status}): "
                "triage it through its tier's route.",
                "connector": source,
                "external_id": external_id,
                "status": status,
            },
            name,
        )


def unapproved_entitlements(now: datetime) -> Iterator[Hit]:
    records = (
        SourceRecord.objects.filter(gone_at__isnull=True, identity__isnull=False)
        .exclude(identity__status=Identity.Status.DECOMMISSIONED)
        .exclude(entitlements=[])
        .values_list("identity_id", "identity__name", "connector__name", "entitlements")
        .order_by("pk")
    )
    batch: list[tuple] = []
    for row in records.iterator(chunk_size=CHUNK):
        batch.append(row)
        if len(batch) >= CHUNK:
            yield from _entitlement_hits(batch, now)
            batch = []
    if batch:
        yield from _entitlement_hits(batch, now)


def _entitlement_hits(batch: list[tuple], now: datetime) -> Iterator[Hit]:
    grants: dict[int, list[dict[str, Any]]] = {}
    for grant in (
        Grant.objects.current(now)
        .filter(identity_id__in=[row[0] for row in batch])
        .values("identity_id", "resource_kind", "resource_name", "actions")
    ):
        grants.setdefault(grant["identity_id"], []).append(grant)
    merged: dict[int, tuple[str, str, list]] = {}
    for identity_id, name, connector, entitlements in batch:
        _, _, existing = merged.get(identity_id, (name, connector, []))
        merged[identity_id] = (name, connector, existing + list(entitlements))
    for identity_id, (name, connector, entitlements) in merged.items():
        difference = uncovered(entitlements, grants.get(identity_id, []))
        if not difference:
            continue
        actions = {a for item in difference for a in item["actions"]}
        text = "; ".join(
            f"{d['resource_kind']} {d['resource_name']}: {', '.join(d['actions'])} "
            f"(via {', '.join(d['via'])})"
            for d in difference
        )
        yield Hit(
            identity_id,
            Severity.HIGH if actions & SENSITIVE else Severity.MEDIUM,
            {
                "summary": f"At the source beyond the approved grants: {text}",
                "connector": connector,
                "difference": [{k: v for k, v in d.items() if k != "refs"} for d in difference],
            },
            name,
        )


def failing_connectors(now: datetime) -> Iterator[Hit]:
    for connector in Connector.objects.filter(failing=True, identity__isnull=False).select_related(
        "identity"
    ):
        yield Hit(
            connector.identity_id,
            Severity.HIGH,
            {
                "summary": f"Connector {connector.name} is failing: {connector.last_error[:300]}",
                "connector": connector.name,
                "failing_since": connector.failing_since.isoformat() if connector.failing_since else None,
                "error": connector.last_error[:1000],
            },
            connector.identity.name,
        )


def static_secrets_in_mcp_configs(now: datetime) -> Iterator[Hit]:
    records = (
        SourceRecord.objects.filter(
            connector__kind=Connector.Kind.ENDPOINT_SCAN,
            object_type="mcp_server",
            gone_at__isnull=True,
            identity__isnull=False,
        )
        .exclude(identity__status=Identity.Status.DECOMMISSIONED)
        .exclude(details__secret_env_names=[])
        .filter(details__has_key="secret_env_names")
        .values_list("identity_id", "identity__name", "connector__name", "details")
        .order_by("pk")
    )
    for identity_id, name, connector, details in records.iterator(chunk_size=CHUNK):
        names = list(details.get("secret_env_names") or [])
        if not names:
            continue
        hosts = sorted(
            host
            for host, sighting in details.get("hosts", {}).items()
            if set(sighting.get("env", [])) & set(names)
        )
        shown = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
        yield Hit(
            identity_id,
            Severity.HIGH,
            {
                "summary": f"MCP server '{details.get('server', name)}' is given {', '.join(names)} from its "
                f"configuration file on {shown}: move the secret to a vault or a short-lived credential.",
                "connector": connector,
                "env_names": names,
                "hosts": hosts[:100],
            },
            name,
        )


def register() -> None:
    registry.register_finding_source(Rule.UNMANAGED_IDENTITY, "connectors", unmanaged_identities)
    registry.register_finding_source(Rule.UNAPPROVED_ENTITLEMENT, "connectors", unapproved_entitlements)
    registry.register_finding_source(Rule.CONNECTOR_FAILING, "connectors", failing_connectors)
    registry.register_finding_source(
        Rule.STATIC_SECRET_IN_MCP_CONFIG, "connectors", static_secrets_in_mcp_configs
    )
