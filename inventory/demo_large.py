"""The large demo estate: 100,000 synthetic identities with grants and credentials, for benchmarks.

Rows go in with `executemany` in batches rather than through model instances: building 500,000 model
objects costs minutes, the plain INSERTs seconds. No audit events (this is synthetic load, not
history). Idempotent: it continues from the number of `demo-large` identities already present.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from inventory.models import Credential, Grant, Identity
from inventory.risk import assess

LARGE_SOURCE = "demo-large"
PRODUCTS = [
    ("ai_assistant", "Anthropic", "Claude Code", "claude-sonnet-4-5"),
    ("ai_assistant", "Google", "Gemini Code Assist", "gemini-2.5-pro"),
    ("ide_plugin", "GitHub", "Copilot", "gpt-4.1"),
    ("ide_plugin", "Anysphere", "Cursor", ""),
    ("ai_agent", "OpenAI", "Codex", "gpt-5-codex"),
    ("ai_agent", "Internal", "Triage agent", "claude-opus-4-1"),
    ("service_account", "Amazon Web Services", "IAM role", ""),
    ("service_account", "Google", "Service account", ""),
    ("api_key", "Stripe", "Restricted key", ""),
    ("oauth_app", "Sentry", "Sentry", ""),
    ("bot", "Internal", "Bot", ""),
    ("workload", "HashiCorp", "Terraform", ""),
]
ENV_SETS = [["dev"], ["prod"], ["dev", "staging"], ["prod", "staging"], ["sandbox"], ["dev", "prod"]]
GRANT_SHAPES = [
    ("repository", ["read_code"]),
    ("repository", ["open_pr", "read_code", "write_code"]),
    ("ci_pipeline", ["deploy", "run_ci"]),
    ("database", ["read_data"]),
    ("ticketing", ["read_tickets", "write_tickets"]),
    ("secret_store", ["read_secrets"]),
]
CLASSES = ["internal", "internal", "internal", "confidential", "public", "restricted"]
CADENCE = {"low": 365, "medium": 180, "high": 90, "critical": 90}


def _insert(model, fields: list[str], rows: list[tuple]) -> None:
    """Plain multi-row INSERT through the connection (portable placeholders, adapted values)."""
    if not rows:
        return
    meta = model._meta
    columns = [meta.get_field(f).column for f in fields]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        connection.ops.quote_name(meta.db_table),
        ", ".join(connection.ops.quote_name(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def build_large(users, count: int = 100_000, stdout=None, batch: int = 5000) -> int:
    rng = random.Random(42)
    now = timezone.now()
    dt = connection.ops.adapt_datetimefield_value
    d = connection.ops.adapt_datefield_value
    owners = list(users.values())
    existing = Identity.objects.filter(source=LARGE_SOURCE).count()
    created = 0
    identity_fields = [
        "name", "kind", "vendor", "product", "model_name", "purpose", "owner", "backup_owner", "team",
        "environments", "data_classification", "autonomous", "risk_tier", "risk_reasons", "status",
        "status_reason", "last_used_at", "last_reviewed_at", "next_review_due", "approved_at", "source",
        "external_id", "created_at", "updated_at", "version",
    ]  # fmt: skip
    grant_fields = [
        "identity",
        "resource_kind",
        "resource_name",
        "actions",
        "origin",
        "created_at",
        "last_used_at",
        "end_reason",
    ]
    credential_fields = [
        "identity", "kind", "label", "storage", "issued_at", "last_rotated_at", "expires_at",
        "revocation_confirmed_by", "revocation_note",
    ]  # fmt: skip
    for start in range(existing, count, batch):
        end = min(start + batch, count)
        with transaction.atomic():
            rows, plans = [], {}
            for n in range(start, end):
                kind, vendor, product, model = rng.choice(PRODUCTS)
                envs = rng.choice(ENV_SETS)
                shapes = [rng.choice(GRANT_SHAPES) for _ in range(3)]
                autonomous = kind in ("ai_agent", "bot", "workload") and rng.random() < 0.7
                data_class = rng.choice(CLASSES)
                risk = assess(
                    kind=kind,
                    environments=envs,
                    actions={a for _, acts in shapes for a in acts},
                    data_classification=data_class,
                    autonomous=autonomous,
                )
                owner = rng.choice(owners) if rng.random() > 0.03 else None
                backup = rng.choice(owners) if owner and rng.random() > 0.3 else None
                if backup is not None and backup.pk == owner.pk:
                    backup = None
                status = Identity.Status.ACTIVE if owner else Identity.Status.DISCOVERED
                if owner and rng.random() < 0.02:
                    status = Identity.Status.SUSPENDED
                used = now - timedelta(days=rng.randint(0, 400)) if rng.random() > 0.1 else None
                reviewed = now - timedelta(days=rng.randint(0, 400)) if status == "active" else None
                approved = now - timedelta(days=rng.randint(30, 900))
                external_id = f"large-{n:06d}"
                plans[external_id] = (shapes, used)
                rows.append(
                    (
                        f"{product.lower().replace(' ', '-')}-{n:06d}", kind, vendor, product, model,
                        f"Synthetic {product} identity for benchmarks.",
                        owner.pk if owner else None, backup.pk if backup else None,
                        owner.team_id if owner else None, json.dumps(sorted(envs)), data_class, autonomous,
                        risk.tier, json.dumps(risk.reasons), status, "", dt(used), dt(reviewed),
                        d((reviewed + timedelta(days=CADENCE[risk.tier])).date()) if reviewed else None,
                        dt(approved) if owner else None, LARGE_SOURCE, external_id, dt(approved), dt(now), 1,
                    )
                )  # fmt: skip
            _insert(Identity, identity_fields, rows)
            ids = dict(
                Identity.objects.filter(source=LARGE_SOURCE, external_id__in=list(plans)).values_list(
                    "external_id", "id"
                )
            )
            grants, credentials = [], []
            for external_id, (shapes, used) in plans.items():
                identity_id = ids[external_id]
                for resource_kind, actions in shapes:
                    grants.append(
                        (
                            identity_id, resource_kind, f"{resource_kind}-{rng.randint(1, 5000)}",
                            json.dumps(actions), Grant.Origin.IMPORT, dt(now), dt(used), "",
                        )
                    )  # fmt: skip
                rotated = now - timedelta(days=rng.randint(0, 700))
                cred_kind = rng.choice(Credential.Kind.values)
                static = cred_kind in ("static_key", "ssh_key", "password")
                credentials.append(
                    (
                        identity_id, cred_kind, f"cred-{external_id}", "Vault kv/synthetic", dt(rotated),
                        dt(rotated), None if static else dt(now + timedelta(days=rng.randint(1, 90))), "", "",
                    )
                )  # fmt: skip
            _insert(Grant, grant_fields, grants)
            _insert(Credential, credential_fields, credentials)
            created += len(rows)
        if stdout:
            stdout.write(f"  large estate: {end:,} / {count:,}")
    return created
