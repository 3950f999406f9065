"""The authorisation matrix's machinery: the routes from the URL conf, an estate with one of each
object, and a request per (route, method, role) classified as allowed, denied or sent to log in.

The expected outcomes live in `test_authorization_matrix.py`; `python -m tests.security.matrix_support`
is not needed to use them. The classification is deliberately coarse: what the matrix proves is who
gets past authorisation, not what each endpoint answers to an empty body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

ROLES = ["anonymous", "outsider", "owner", "owner2", "iam", "security", "auditor"]

# Routes that are not Steward's own: the Django admin has its own staff check, DRF's format-suffix
# twins answer exactly as the route they double.
SKIP_PREFIXES = ("admin/",)
FORMAT_SUFFIX = re.compile(r"\\\.\(\?P<format>|<drf_format_suffix:format>")

OK, DENY, LOGIN = "ok", "deny", "login"


@dataclass(frozen=True)
class Route:
    name: str  # namespace:name, unique with the pattern
    pattern: str
    methods: tuple[str, ...]


def _walk(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace and entry.namespace != "api":  # the API's routes are told apart by /api/v1/
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}", entry


def _methods(pattern: URLPattern) -> tuple[str, ...]:
    actions = getattr(pattern.callback, "actions", None)
    if actions:  # a DRF viewset route knows its methods
        return tuple(sorted(m.upper() for m in actions if m not in ("head", "options")))
    view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view_class is not None and hasattr(view_class, "http_method_names"):
        allowed = [m.upper() for m in view_class.http_method_names if hasattr(view_class, m)]
        return tuple(m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in allowed)
    return ("GET", "POST")


def steward_routes() -> list[Route]:
    """Every route of the URL conf but the admin's and DRF's format-suffix twins."""
    routes: dict[str, Route] = {}
    for pattern, name, entry in _walk(get_resolver()):
        if pattern.startswith(SKIP_PREFIXES) or FORMAT_SUFFIX.search(pattern):
            continue
        key = f"{name} {pattern}"
        routes.setdefault(key, Route(key, pattern, _methods(entry)))
    return sorted(routes.values(), key=lambda r: r.name)


def build_estate(users) -> dict[str, int | str]:
    """One of each object, owned or requested by `owner`; returns the values for URL parameters."""
    from django.db import transaction

    from approvals.flows import scope
    from approvals.services import intake as intake_services
    from governance import audit
    from governance.actors import system
    from governance.evidence.builder import build_pack
    from governance.evidence.services import default_period, request_export
    from governance.exceptions import services as exception_services
    from governance.findings.models import Finding
    from governance.policy.models import PolicyTestCase, PolicyVersion
    from governance.reviews.services.launch import launch_campaign
    from inventory import ownership
    from tests.approvals.conftest import answers
    from tests.factories import CredentialFactory, GrantFactory, IdentityFactory, request_merge_access

    owner, owner2, iam = users["owner"], users["owner2"], users["iam"]
    now = timezone.now()
    identity = IdentityFactory(
        owner=owner, name="matrix-bot", risk_tier="high", environments=["dev", "prod"], team=owner.team
    )
    grant = GrantFactory(identity=identity, resource_name="platform/api", actions=["read_code"])
    credential = CredentialFactory(identity=identity)
    revoked = CredentialFactory(identity=identity, revoked_at=now - timedelta(days=1))
    two_years = now - timedelta(days=730)
    CredentialFactory(identity=identity, issued_at=two_years, last_rotated_at=two_years)
    finding = Finding.objects.create(rule="stale_unused", identity=identity, severity="medium")

    data = answers("medium")
    data["team"] = owner.team
    intake = intake_services.submit(owner, intake_services.create_draft(owner, data))
    exception = exception_services.request_exception(
        owner,
        identity=identity,
        rule="credential_rotation_overdue",
        justification="Legacy bot cannot use OIDC yet.",
        compensating_controls="Key scoped to one repository.",
        expires_at=now + timedelta(days=30),
    )
    campaign = launch_campaign(iam, "Matrix review", {"risk_tiers": ["high"]}, now + timedelta(days=14))
    item = campaign.items.get(identity=identity)
    start, end = default_period()
    export = request_export(users["auditor"], start.isoformat(), end.isoformat())
    # Built here, synchronously (the worker does it after commit, which a test transaction never
    # reaches), so its download is reachable. A pack that failed would turn both download rows into
    # 404 for every role: say why here instead.
    built = build_pack(export.pk)
    assert built.state == built.State.READY, f"the estate's evidence pack did not build: {built.error}"
    access = request_merge_access(owner, identity, reason="Release 1.2", task_ref="REL-12")
    transfer = ownership.propose_transfer(owner, [identity], owner2, "Moving teams")[0]
    change = scope.request_scope_change(
        owner,
        identity,
        add=[{"resource_kind": "repository", "resource_name": "platform/web", "actions": ["open_pr"]}],
        reason="Needs the web repository too",
    )
    from approvals.flows.reactivation import request_reactivation
    from inventory import services as inventory_services

    paused = IdentityFactory(owner=owner, name="matrix-paused", environments=["dev"], team=owner.team)
    inventory_services.suspend(iam, paused, "Paused for the matrix")
    reactivation = request_reactivation(owner, paused, "Needed again for the release")
    # Found in prod with admin: Security's triage names `owner` and routes it (IAM, then Security).
    found = IdentityFactory(
        owner=None,
        name="matrix-found-admin",
        status="discovered",
        kind="service_account",
        environments=["prod"],
        team=owner.team,
    )
    GrantFactory(identity=found, resource_kind="cloud_account", actions=["admin", "deploy"])
    inventory_services.activate(users["security"], found, "Platform runs it", owner=owner)
    activation = found.activation_requests.get()
    from connectors.models import ConnectorRun
    from connectors.services import create_connector

    connector = create_connector(
        iam, {"name": "matrix-aws", "kind": "aws_iam", "config": {"endpoint_url": "http://127.0.0.1:9"}}
    )
    run = ConnectorRun.objects.create(connector=connector, state="succeeded", actor="iam", finished_at=now)
    workload = _workload_estate(users, identity)
    version = PolicyVersion.objects.order_by("-version").first()
    test_case = PolicyTestCase.objects.first()
    with transaction.atomic():
        event = audit.record(system("test"), "matrix.touched", identity, after={"ok": True})
    return {
        "identity": identity.pk,
        "grant": grant.pk,
        "credential": credential.pk,
        "revoked_credential": revoked.pk,
        "finding": finding.pk,
        "intake": intake.pk,
        "approval": intake.approval_id,
        "exception": exception.pk,
        "campaign": campaign.pk,
        "item": item.pk,
        "export": export.pk,
        "access": access.pk,
        "transfer": transfer.pk,
        "scope_change": change.pk,
        "reactivation": reactivation.pk,
        "activation": activation.pk,
        "version": version.version if version else 1,
        "test_case": test_case.pk if test_case else 1,
        "seq": event.seq,
        "connector": connector.pk,
        "run": run.pk,
        **workload,
    }


def _workload_estate(users, identity) -> dict[str, int]:
    """A trusted issuer proposed by Security (IAM may approve it, Security may not: its proposer),
    an active binding on the estate's identity, and a SET receiver."""
    from workload import services
    from workload.models import TrustBinding

    security = users["security"]
    active = services.propose_issuer(
        security,
        {
            "name": "matrix-ci",
            "issuer": "https://ci.matrix.example",
            "jwks": {
                "keys": [
                    {
                        "kty": "EC",
                        "crv": "P-256",
                        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                        "kid": "k1",
                    }
                ]
            },
            "audience": "steward",
        },
    )
    services.approve_issuer(users["iam2"], active.pk)
    proposed = services.propose_issuer(
        security,
        {
            "name": "matrix-k8s",
            "issuer": "https://k8s.matrix.example",
            "jwks_uri": "https://k8s.matrix.example/openid/v1/jwks",
            "audience": "steward",
        },
    )
    binding = TrustBinding.objects.create(
        issuer=active,
        identity=identity,
        claims={"sub": "repo:acme/matrix:environment:prod"},
        state=TrustBinding.State.ACTIVE,
        created_by=users["iam"],
    )
    receiver = services.add_receiver(
        security, {"name": "matrix-gateway", "endpoint": "https://gw.matrix.example/events"}
    )
    return {"trusted_issuer": proposed.pk, "binding": binding.pk, "receiver": receiver.pk}


# The path segment just before `<pk>` names the object: `inventory/<pk>/` an identity,
# `inventory/scope-changes/<pk>/` a scope change, `api/v1/^review-items/(?P<pk>…)` a review item.
PARAMS_BY_SEGMENT = {
    "inventory": "identity",
    "identities": "identity",
    "credentials": "credential",
    "scope-changes": "scope_change",
    "transfers": "transfer",
    "ownership-transfers": "transfer",
    "reactivations": "reactivation",
    "reactivation-requests": "reactivation",
    "activations": "activation",
    "activation-requests": "activation",
    "intake": "intake",
    "intake-requests": "intake",
    "approvals": "approval",
    "exceptions": "exception",
    "items": "item",
    "review-items": "item",
    "campaigns": "campaign",
    "review-campaigns": "campaign",
    "evidence-exports": "export",
    "access-requests": "access",
    "findings": "finding",
    "test-cases": "test_case",
    "connectors": "connector",
    "connector-runs": "run",
    "issuers": "trusted_issuer",
    "trusted-issuers": "trusted_issuer",
    "bindings": "binding",
    "trust-bindings": "binding",
    "receivers": "receiver",
    "set-receivers": "receiver",
    "runs": "run",
}
# Routes whose object is not the one their path suggests.
PARAMS_BY_ROUTE = {"inventory:confirm-revocation": "revoked_credential"}
# A parameter whose own name says which object it is.
PARAMS_BY_NAME = {"credential_id": "credential", "identity_pk": "identity", "grant_id": "grant"}
PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _estate_key(route: Route) -> str:
    name = route.name.split(" ")[0]
    if name in PARAMS_BY_ROUTE:
        return PARAMS_BY_ROUTE[name]
    before = route.pattern.replace("^", "").split("<")[0].split("(?P")[0].rstrip("/").split("/")[-1]
    return PARAMS_BY_SEGMENT[before]


def url_for(route: Route, estate: dict) -> str:
    """The route's pattern with each parameter filled from the estate."""
    pattern = route.pattern.replace("^", "").replace("$", "")

    def fill(match):
        param = match.group(1) or match.group(2)
        if param == "version":
            return str(estate["version"])
        if param == "seq":
            return str(estate["seq"])
        if param in ("uidb64", "token"):
            return "x"
        if param == "scim_path":
            return "Users"
        if param == "name":
            return "mine"
        if param == "list_key":
            return "inventory"  # the list tools' routes (governance.lists), on the inventory list
        if param in PARAMS_BY_NAME:
            return str(estate[PARAMS_BY_NAME[param]])
        return str(estate[_estate_key(route)])

    return "/" + PARAM.sub(fill, pattern)


def classify(route: Route, method: str, status: int, location: str) -> str:
    if status >= 500:
        return f"error {status}"
    if status == 401 or (status == 302 and "/accounts/login/" in location):
        return LOGIN
    if status in (403, 404):
        return DENY
    if status == 405:
        return "n/a"
    return OK


def observe(client_for, route: Route, method: str, estate: dict, raw: dict | None = None) -> dict[str, str]:
    """role → outcome, each request inside a savepoint rolled back, so every role sees the same state."""
    from django.db import transaction

    outcomes = {}
    url = url_for(route, estate)
    for role in ROLES:
        client = client_for(role)
        sid = transaction.savepoint()
        try:
            call = getattr(client, method.lower())
            kwargs = {"content_type": "application/json", "data": "{}"} if method in ("PUT", "PATCH") else {}
            response = call(url, **kwargs)
            outcomes[role] = classify(route, method, response.status_code, response.get("Location", ""))
            if raw is not None:
                raw[role] = response.status_code
        finally:
            transaction.savepoint_rollback(sid)
    return outcomes
