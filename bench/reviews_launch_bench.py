"""Benchmark launching an access review campaign over a large estate: time, SQL queries, hash check.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench \
        .venv/bin/python bench/reviews_launch_bench.py --identities 100000

The database named by BENCH_DATABASE_URL is migrated and its identities, review campaigns and audit
events are replaced: point it at a throwaway database, never at real data. Each identity gets two
grants and one credential. Output: seconds and queries for the launch, for verifying the population
hash from the stored items, and for closing the campaign.
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
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from governance.models import AuditChainHead, ReviewCampaign, Role, User
    from governance.reviews.services import close_campaign, launch_campaign, verify_population
    from inventory.models import Credential, Grant, Identity

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # the audit log refuses DELETE; TRUNCATE is the reset
        tables = [
            "governance_reviewreminder",
            "governance_reviewitem",
            "governance_reviewcampaign",
            "inventory_grant",
            "inventory_credential",
            "inventory_usageevent",
        ]
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)}, governance_auditevent, inventory_identity CASCADE")
        else:
            for table in [*tables, "governance_auditevent", "inventory_identity"]:
                cursor.execute(f"DELETE FROM {table}")
    AuditChainHead.objects.all().delete()
    iam, _ = User.objects.get_or_create(username="bench-iam", defaults={"email": "iam@example.com"})
    iam.groups.add(Group.objects.get_or_create(name=Role.IAM)[0])
    owners = [
        User.objects.get_or_create(username=f"bench-owner-{i}", defaults={"email": f"o{i}@example.com"})[0]
        for i in range(50)
    ]
    now = timezone.now()
    n = args.identities
    started = time.monotonic()
    with transaction.atomic():
        Identity.objects.bulk_create(
            [
                Identity(
                    name=f"bench-{i:06d}",
                    kind=["ai_assistant", "service_account", "ai_agent", "api_key"][i % 4],
                    vendor="Anthropic",
                    owner=owners[i % 50] if i % 20 else None,
                    environments=[["dev"], ["prod"], ["prod", "dev"], ["staging"]][i % 4],
                    risk_tier=["low", "medium", "high", "critical"][i % 4],
                    status="active",
                    approved_at=now - timedelta(days=200),
                    last_used_at=now - timedelta(days=i % 120),
                )
                for i in range(n)
            ],
            batch_size=5000,
        )
        ids = list(Identity.objects.order_by("pk").values_list("pk", flat=True))
        Grant.objects.bulk_create(
            [
                Grant(
                    identity_id=pk,
                    resource_kind="repository",
                    resource_name=f"org/repo-{pk % 500}",
                    actions=a,
                )
                for pk in ids
                for a in (["read_code"], ["open_pr", "write_code"])
            ],
            batch_size=5000,
        )
        Credential.objects.bulk_create(
            [Credential(identity_id=pk, kind="static_key", label=f"key-{pk}", issued_at=now) for pk in ids],
            batch_size=5000,
        )
    print(f"estate: {n} identities, {2 * n} grants, {n} credentials in {time.monotonic() - started:.1f}s")

    def measure(label, func):
        started = time.monotonic()
        with CaptureQueriesContext(connection) as ctx:
            result = func()
        print(f"{label}: {time.monotonic() - started:.1f}s, {len(ctx.captured_queries)} queries")
        return result

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        launch_campaign(iam, "profile", {}, now + timedelta(days=30))
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        return
    campaign = measure("launch", lambda: launch_campaign(iam, "bench", {}, now + timedelta(days=30)))
    print(f"  population {campaign.population_count}, sha256 {campaign.population_sha256}")
    report = measure("verify", lambda: verify_population(ReviewCampaign.objects.get(pk=campaign.pk)))
    print(f"  verified: {report['ok']}")
    measure("close", lambda: close_campaign(iam, campaign))


if __name__ == "__main__":
    main()
