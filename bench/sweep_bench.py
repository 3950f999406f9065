"""Benchmark the governance sweep on a large synthetic estate: time and query count per run.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench \
        .venv/bin/python bench/sweep_bench.py --identities 100000

The database named by BENCH_DATABASE_URL is migrated and its identities, findings and audit events
are replaced: point it at a throwaway database, never at real data. Output: one line per sweep
(opening, steady state, resolving) with seconds and the number of SQL queries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--identities", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        sys.exit("Set BENCH_DATABASE_URL to a throwaway database (it is overwritten).")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from governance.findings.models import Finding
    from governance.findings.sweep import run_sweep
    from governance.models import AuditChainHead, User
    from inventory.models import Credential, Grant, Identity

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # the audit log refuses DELETE; TRUNCATE is the reset
        tables = ["governance_finding", "inventory_grant", "inventory_credential", "inventory_usageevent"]
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)}, governance_auditevent, inventory_identity CASCADE")
        else:
            for table in [*tables, "governance_auditevent", "inventory_identity"]:
                cursor.execute(f"DELETE FROM {table}")
    AuditChainHead.objects.all().delete()
    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"email": "bench@example.com"})
    now = timezone.now()
    long_ago = now - timedelta(days=400)
    n = args.identities
    started = time.monotonic()
    with transaction.atomic():
        Identity.objects.bulk_create(
            [
                Identity(
                    name=f"bench-{i:06d}",
                    kind=["ai_assistant", "service_account", "ai_agent", "api_key"][i % 4],
                    vendor=["Anthropic", "GitHub", "Unknown Co", ""][i % 4],
                    owner=owner if i % 10 else None,
                    environments=[["dev"], ["prod"], ["prod", "dev"], ["staging"]][i % 4],
                    risk_tier=["low", "medium", "high", "critical"][i % 4],
                    status="active",
                    approved_at=long_ago,
                    created_at=long_ago,
                    last_used_at=now if i % 3 else long_ago,
                    next_review_due=(now + timedelta(days=30 if i % 5 else -3)).date(),
                )
                for i in range(n)
            ],
            batch_size=5000,
        )
        ids = list(Identity.objects.values_list("id", flat=True))
        grant = {"resource_kind": "repository", "actions": ["read_code"]}
        Grant.objects.bulk_create(
            [Grant(identity_id=pk, resource_name=f"org/r{pk}", **grant) for pk in ids], batch_size=5000
        )
        Credential.objects.bulk_create(
            [
                Credential(identity_id=pk, kind="static_key", label=f"k{pk}", issued_at=long_ago)
                for pk in ids[::2]
            ],
            batch_size=5000,
        )
    print(f"estate: {n} identities built in {time.monotonic() - started:.1f}s on {connection.vendor}")

    def measured(label: str) -> None:
        t0 = time.monotonic()
        with CaptureQueriesContext(connection) as ctx:
            summary = run_sweep()
        print(
            f"{label:9} {time.monotonic() - t0:7.2f}s {len(ctx.captured_queries):4d} queries "
            f"opened={summary['opened']} resolved={summary['resolved']} unresolved={summary['unresolved']}"
        )

    measured("opening")
    measured("steady")
    Identity.objects.update(last_used_at=timezone.now())
    measured("resolving")
    print(f"findings rows: {Finding.objects.count()}")


if __name__ == "__main__":
    main()
