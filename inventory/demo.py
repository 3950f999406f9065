"""A believable demo estate: assistants, plugins, agents, service accounts, keys and bots across teams.

Small: a few dozen identities across kinds, teams, tiers and environments, some stale, some orphaned,
some with old static keys, one used after its suspension, one decommissioned with a revocation still
unconfirmed. Large: 100,000 more built with bulk inserts (`demo_large`, for benchmarks). Both are
idempotent: existing names are skipped.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from governance import audit
from governance.actors import system
from inventory.demo_large import build_large
from inventory.models import Credential, Grant, Identity, UsageEvent
from inventory.risk import assess

# name, kind, vendor, product, model, team, envs, grants [(kind, name, actions)], cred kind, owner,
# backup, days since last use (None = never), days since key rotation, autonomous, data class
SMALL_ESTATE = [
    (
        "Claude Code (platform)",
        "ai_assistant",
        "Anthropic",
        "Claude Code",
        "claude-sonnet-4-5",
        "platform",
        ["dev", "staging"],
        [("repository", "platform/*", ["read_code", "write_code", "open_pr"])],
        "oauth_token",
        "owner",
        "pat",
        1,
        20,
        False,
        "internal",
    ),
    (
        "GitHub Copilot (payments)",
        "ide_plugin",
        "GitHub",
        "Copilot",
        "gpt-4.1",
        "payments",
        ["dev"],
        [("repository", "payments/api", ["read_code"])],
        "oauth_token",
        "owner2",
        "quinn",
        2,
        30,
        False,
        "confidential",
    ),
    (
        "Cursor (mobile)",
        "ide_plugin",
        "Anysphere",
        "Cursor",
        "",
        "mobile",
        ["dev"],
        [("repository", "mobile/app", ["read_code", "write_code"])],
        "oauth_token",
        "miles",
        "owner",
        5,
        40,
        False,
        "internal",
    ),
    (
        "release-bot",
        "bot",
        "Internal",
        "Release bot",
        "",
        "platform",
        ["prod", "staging"],
        [("ci_pipeline", "platform/release", ["run_ci", "deploy"]), ("repository", "platform/*", ["merge"])],
        "static_key",
        "owner",
        None,
        3,
        400,
        True,
        "internal",
    ),
    (
        "payments-reconciler",
        "service_account",
        "Amazon Web Services",
        "IAM role",
        "",
        "payments",
        ["prod"],
        [("database", "payments-ledger", ["read_data", "write_data"])],
        "oidc_federation",
        "owner2",
        "quinn",
        0,
        10,
        True,
        "restricted",
    ),
    (
        "data-pipeline-sa",
        "service_account",
        "Google",
        "Service account",
        "",
        "data",
        ["prod", "dev"],
        [
            ("cloud_account", "gcp-data-prod", ["read_data", "write_data"]),
            ("secret_store", "vault/data", ["read_secrets"]),
        ],
        "static_key",
        "dana",
        None,
        120,
        500,
        True,
        "confidential",
    ),
    (
        "Jira triage agent",
        "ai_agent",
        "Atlassian",
        "Rovo",
        "",
        "platform",
        ["prod"],
        [("ticketing", "JIRA", ["read_tickets", "write_tickets"])],
        "oauth_token",
        "pat",
        "owner",
        10,
        60,
        True,
        "internal",
    ),
    (
        "docs-summariser",
        "ai_agent",
        "OpenAI",
        "Assistants API",
        "gpt-4.1-mini",
        "data",
        ["sandbox"],
        [("documentation", "confluence/eng", ["read_data"])],
        "static_key",
        "leaver",
        None,
        200,
        380,
        True,
        "internal",
    ),
    (
        "legacy-deploy-key",
        "api_key",
        "Internal",
        "Deploy key",
        "",
        "platform",
        ["prod"],
        [("repository", "platform/infra", ["read_code", "write_code"])],
        "ssh_key",
        None,
        None,
        400,
        900,
        False,
        "internal",
    ),
    (
        "sentry-integration",
        "oauth_app",
        "Sentry",
        "Sentry",
        "",
        "mobile",
        ["prod"],
        [("repository", "mobile/app", ["read_code"])],
        "oauth_token",
        "miles",
        None,
        1,
        30,
        False,
        "internal",
    ),
    (
        "terraform-ci",
        "workload",
        "HashiCorp",
        "Terraform Cloud",
        "",
        "platform",
        ["prod", "staging"],
        [("cloud_account", "aws-prod", ["deploy", "admin"])],
        "oidc_federation",
        "pat",
        "owner",
        0,
        5,
        True,
        "confidential",
    ),
    (
        "Snyk scanner",
        "oauth_app",
        "Snyk",
        "Snyk",
        "",
        "security",
        ["dev", "prod"],
        [("repository", "*", ["read_code"])],
        "pat",
        "security",
        "iam",
        1,
        200,
        False,
        "internal",
    ),
    (
        "Windsurf trial",
        "ide_plugin",
        "Codeium",
        "Windsurf",
        "",
        "mobile",
        ["sandbox"],
        [("repository", "mobile/experiments", ["read_code"])],
        "oauth_token",
        "miles",
        None,
        None,
        15,
        False,
        "internal",
    ),
    (
        "support-email-bot",
        "bot",
        "Internal",
        "Zendesk macro bot",
        "",
        "payments",
        ["prod"],
        [("ticketing", "Zendesk", ["read_tickets", "write_tickets"])],
        "password",
        "quinn",
        "owner2",
        50,
        700,
        True,
        "confidential",
    ),
    (
        "Copilot coding agent",
        "ai_agent",
        "GitHub",
        "Copilot coding agent",
        "",
        "platform",
        ["dev", "prod"],
        [("repository", "platform/*", ["read_code", "write_code", "open_pr"])],
        "oauth_token",
        "owner",
        "pat",
        0,
        12,
        True,
        "internal",
    ),
    (
        "Gemini Code Assist",
        "ai_assistant",
        "Google",
        "Gemini Code Assist",
        "gemini-2.5-pro",
        "data",
        ["dev"],
        [("repository", "data/*", ["read_code"])],
        "oauth_token",
        "dana",
        "owner",
        60,
        30,
        False,
        "internal",
    ),
    (
        "ml-feature-store-sa",
        "service_account",
        "Google",
        "Service account",
        "",
        "data",
        ["prod"],
        [("database", "feature-store", ["read_data"])],
        "static_key",
        "leaver",
        "dana",
        30,
        250,
        True,
        "confidential",
    ),
    (
        "grafana-reader",
        "service_account",
        "Grafana Labs",
        "Grafana",
        "",
        "platform",
        ["prod"],
        [("database", "metrics", ["read_data"])],
        "pat",
        "pat",
        None,
        100,
        420,
        False,
        "internal",
    ),
]
# More of the estate, one line each:
# name | kind | vendor | product | model | team | envs | grants (kind:name=actions; ...) | credential kind |
# owner | backup | days since last use ("-" = never) | days since rotation | autonomous | data class
MORE_ESTATE = """
Copilot (data)|ide_plugin|GitHub|Copilot Business|gpt-4.1|data|dev|repository:data/*=read_code|oauth_token|dana|owner|3|45|n|internal
Claude Code (payments)|ai_assistant|Anthropic|Claude Code|claude-sonnet-4-5|payments|dev;staging|repository:payments/*=read_code,write_code,open_pr|oauth_token|owner2|quinn|1|20|n|confidential
Codex cloud tasks|ai_agent|OpenAI|Codex|gpt-5-codex|platform|dev|repository:platform/*=read_code,write_code,open_pr;ci_pipeline:platform/checks=run_ci|oauth_token|owner|pat|2|30|y|internal
JetBrains AI Assistant|ide_plugin|JetBrains|AI Assistant||mobile|dev|repository:mobile/*=read_code|oauth_token|miles|owner|8|90|n|internal
Continue (found on laptops)|ide_plugin|Continue|Continue||data|dev|repository:data/notebooks=read_code|pat|||35|210|n|internal
GitHub MCP server (laptops)|mcp_server|GitHub|github-mcp-server||platform|dev|repository:platform/*=read_code,open_pr|pat|owner|pat|1|200|n|internal
dependabot|bot|GitHub|Dependabot||security|dev;prod|repository:*=read_code,open_pr|oauth_token|security|iam|0|30|y|internal
release-train agent|ai_agent|Anthropic|Claude Agent SDK|claude-sonnet-4-5|platform|prod|repository:release/*=read_code,open_pr,merge|oidc_federation|owner|pat|0|10|y|internal
renovate-bot|bot|Mend|Renovate||platform|dev|repository:platform/*=read_code,open_pr|pat|pat|owner|1|330|y|internal
slack-incident-bot|bot|Internal|Incident bot||platform|prod|ticketing:PagerDuty=read_tickets,write_tickets|oauth_token|pat|owner|4|60|y|internal
pagerduty-integration|oauth_app|PagerDuty|PagerDuty||platform|prod|ticketing:PagerDuty=read_tickets|oauth_token|pat||6|100|n|internal
datadog-agent|workload|Datadog|Datadog Agent||platform|prod;staging|cloud_account:aws-prod=read_data|static_key|pat|owner|0|500|y|internal
github-actions-deploy|workload|GitHub|Actions OIDC||payments|prod|cloud_account:aws-payments-prod=deploy|oidc_federation|owner2|quinn|0|2|y|confidential
vault-approle-payments|service_account|HashiCorp|Vault AppRole||payments|prod|secret_store:vault/payments=read_secrets|static_key|quinn|owner2|2|150|y|restricted
bigquery-exporter|service_account|Google|Service account||data|prod|database:analytics-warehouse=read_data,write_data|static_key|dana||95|800|y|confidential
stripe-webhook-key|api_key|Stripe|Restricted key||payments|prod|other:stripe-webhooks=read_data|static_key|owner2|quinn|0|120|n|restricted
openai-api-key (data science)|api_key|OpenAI|API key|gpt-4.1|data|sandbox|documentation:confluence/ds=read_data|static_key|leaver||140|400|n|internal
mobile-release-signer|workload|Apple|App Store Connect API||mobile|prod|ci_pipeline:mobile/release=run_ci,deploy|certificate|miles|owner|12|200|n|internal
security-scanner-agent|ai_agent|Internal|Triage agent|claude-opus-4-1|security|prod|ticketing:JIRA=read_tickets,write_tickets;repository:*=read_code|oauth_token|security|iam|1|25|y|confidential
old-jenkins-deployer|service_account|Jenkins|Jenkins||platform|prod|ci_pipeline:platform/legacy=run_ci,deploy|password|pat|owner|300|1100|y|internal
argocd-deployer|workload|Argo|Argo CD||platform|staging|ci_pipeline:platform/gitops=run_ci,deploy|oidc_federation|pat|owner|0|20|y|internal
backstage-catalog-bot|bot|Spotify|Backstage||platform|dev|repository:platform/*=read_code|oauth_token|pat|owner|1|40|y|internal
sonarqube-scanner|oauth_app|SonarSource|SonarQube||platform|dev|repository:platform/*=read_code|pat|pat|owner|2|90|n|internal
external-dns|workload|Kubernetes|external-dns||platform|staging|cloud_account:aws-staging=write_data|oidc_federation|pat|owner|0|15|y|internal
buildkite-agent|workload|Buildkite|Buildkite Agent||platform|dev|ci_pipeline:platform/build=run_ci|static_key|pat|owner|0|60|y|internal
"""  # noqa: E501
# The seats docs/examples/ai-coding-assistants.csv lists too: the same source and external id, so
# importing the example on the demo updates them rather than clashing on their names (issue 22 item 8).
IMPORT_KEYS = {
    "GitHub Copilot (payments)": ("github-enterprise", "copilot-seat-payments"),
    "Cursor (mobile)": ("cursor-admin", "cursor-mobile"),
}
STATUS_OVERRIDES = {
    "docs-summariser": Identity.Status.SUSPENDED,
    "legacy-deploy-key": Identity.Status.DISCOVERED,
    "Continue (found on laptops)": Identity.Status.DISCOVERED,
    "old-jenkins-deployer": Identity.Status.DECOMMISSIONED,
    "Windsurf trial": Identity.Status.PROPOSED,
}
STATUS_REASONS = {
    "docs-summariser": "Owner left the company; suspended until the data team adopts it.",
    "old-jenkins-deployer": "Replaced by github-actions-deploy with OIDC federation.",
}
# Review cadence per tier (days), as in the default policy.
CADENCE = {"low": 365, "medium": 180, "high": 90, "critical": 90}
# Identities whose last review is long past its cadence (review overdue).
OVERDUE_REVIEW = {"grafana-reader", "data-pipeline-sa", "support-email-bot", "bigquery-exporter"}
STATIC_KINDS = ("static_key", "ssh_key", "password")


def _parse_more() -> list[tuple]:
    rows = []
    for line in MORE_ESTATE.strip().splitlines():
        # name, kind, vendor, product, model and team are taken as written; the rest are parsed.
        *described, envs, grants, cred, owner, backup, used, rotated, auto, data = line.split("|")
        grant_list = []
        for part in grants.split(";"):
            resource, _, actions = part.partition("=")
            rkind, _, rname = resource.partition(":")
            grant_list.append((rkind, rname, actions.split(",")))
        used_days = None if used == "-" else int(used)
        rows.append(
            (
                *described,
                envs.split(";"),
                grant_list,
                cred,
                owner or None,
                backup or None,
                used_days,
                int(rotated),
                auto == "y",
                data,
            )
        )
    return rows


@transaction.atomic
def build_small(users) -> int:
    now = timezone.now()
    actor = system("seed_demo")
    created = 0
    teams = {u.team.slug: u.team for u in users.values() if u.team_id}
    usage: list[UsageEvent] = []
    for (
        name,
        kind,
        vendor,
        product,
        model,
        team,
        envs,
        grants,
        cred_kind,
        owner,
        backup,
        used_days,
        rotated_days,
        autonomous,
        data_class,
    ) in [*SMALL_ESTATE, *_parse_more()]:
        if Identity.objects.filter(name=name).exists():
            continue
        actions = [a for _, _, acts in grants for a in acts]
        risk = assess(
            kind=kind,
            environments=envs,
            actions=actions,
            data_classification=data_class,
            autonomous=autonomous,
        )
        status = STATUS_OVERRIDES.get(name, Identity.Status.ACTIVE)
        if status == Identity.Status.ACTIVE and users.get(owner) is None:
            status = Identity.Status.DISCOVERED
        approved = now - timedelta(days=max(rotated_days, 30))
        cadence = CADENCE[risk.tier]
        reviewed = None
        if status == Identity.Status.ACTIVE:
            age = (cadence + 40) if name in OVERDUE_REVIEW else (len(name) * 7) % cadence
            reviewed = now - timedelta(days=age)
        last_used = now - timedelta(days=used_days) if used_days is not None else None
        identity = Identity.objects.create(
            name=name,
            kind=kind,
            vendor=vendor,
            product=product,
            model_name=model,
            purpose=f"{product} used by the {team} team.",
            owner=users.get(owner),
            backup_owner=users.get(backup),
            team=teams.get(team),
            environments=sorted(envs),
            risk_tier=risk.tier,
            risk_reasons=risk.reasons,
            status=status,
            status_reason=STATUS_REASONS.get(name, ""),
            data_classification=data_class,
            autonomous=autonomous,
            last_used_at=last_used,
            last_reviewed_at=reviewed,
            next_review_due=(reviewed + timedelta(days=cadence)).date() if reviewed else None,
            approved_at=approved if status in (Identity.Status.ACTIVE, Identity.Status.SUSPENDED) else None,
            created_at=approved,
            source=IMPORT_KEYS.get(name, ("demo",))[0],
            external_id=IMPORT_KEYS[name][1] if name in IMPORT_KEYS else name.lower().replace(" ", "-"),
        )
        decommissioned = status == Identity.Status.DECOMMISSIONED
        Grant.objects.bulk_create(
            [
                Grant(
                    identity=identity,
                    resource_kind=rk,
                    resource_name=rn,
                    actions=sorted(acts),
                    origin=Grant.Origin.INTAKE,
                    created_at=approved,
                    last_used_at=last_used,
                    # Now and then access is time-bound (just-in-time or a trial).
                    expires_at=now + timedelta(days=21)
                    if name in ("Windsurf trial", "Codex cloud tasks")
                    else None,
                    ended_at=now - timedelta(days=20) if decommissioned else None,
                    end_reason="decommissioned" if decommissioned else "",
                )
                for rk, rn, acts in grants
            ]
        )
        Credential.objects.create(
            identity=identity,
            kind=cred_kind,
            label=f"{identity.external_id}-{cred_kind}",
            storage="Vault kv/" + team,
            issued_at=now - timedelta(days=rotated_days),
            last_rotated_at=now - timedelta(days=rotated_days),
            expires_at=None if cred_kind in STATIC_KINDS else now + timedelta(days=60),
            # Decommissioned: revoked, but nobody has confirmed it at the provider yet.
            revoked_at=now - timedelta(days=20) if decommissioned else None,
        )
        audit.record(
            actor, "identity.created", identity, after={"name": name, "status": status, "tier": risk.tier}
        )
        if status in (Identity.Status.SUSPENDED, Identity.Status.DECOMMISSIONED):
            audit.record(
                actor,
                f"identity.{status}",
                identity,
                before={"status": "active"},
                after={"status": status},
                reason=identity.status_reason,
            )
        if last_used is not None:
            rk, rn, acts = grants[0]
            usage += [
                UsageEvent(
                    identity=identity,
                    at=last_used - timedelta(hours=6 * n),
                    action=acts[0],
                    resource_kind=rk,
                    resource_name=rn.replace("*", "core"),
                    environment=envs[0],
                    identity_status=Identity.Status.ACTIVE,
                    reported_by="system:seed_demo",
                )
                for n in range(3)
            ]
        if name == "docs-summariser":
            # Someone still runs it after it was suspended: exactly what must be caught.
            usage.append(
                UsageEvent(
                    identity=identity,
                    at=now - timedelta(days=2),
                    action="read_data",
                    resource_kind="documentation",
                    resource_name="confluence/eng",
                    environment="sandbox",
                    identity_status=Identity.Status.SUSPENDED,
                    after_revocation=True,
                    reported_by="system:seed_demo",
                )
            )
        created += 1
    UsageEvent.objects.bulk_create(usage)
    return created


@transaction.atomic
def _adopt_import_keys() -> None:
    """A demo seeded before the example files matched it: give those seats the files' keys."""
    actor = system("seed_demo")
    for name, (source, external_id) in IMPORT_KEYS.items():
        for identity in Identity.objects.filter(name=name, source="demo"):
            before = {"source": identity.source, "external_id": identity.external_id}
            Identity.objects.filter(pk=identity.pk).update(source=source, external_id=external_id)
            after = {"source": source, "external_id": external_id}
            audit.record(actor, "identity.updated", identity, before=before, after=after)


def build_estate(users, size: str = "small", stdout=None) -> int:
    created = build_small(users)
    _adopt_import_keys()
    if size == "large":
        created += build_large(users, stdout=stdout)
    return created
