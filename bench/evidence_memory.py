"""Peak memory of building an evidence pack, for growing estates: it should stay flat.

    .venv/bin/python bench/evidence_memory.py 10000 40000 100000

Runs against a scratch SQLite database in a temporary STEWARD_VAR_DIR (never your real one), bulk-
creates identities with a grant, a credential and an audit event each, builds a pack of the last
90 days, and prints the traced Python peak (tracemalloc) and the process's max RSS per size.

Measured 2026-11-22 (SQLite, 2 shared cores):

    identities  seconds  traced peak MiB  max RSS MiB  zip MiB
         10000     24.6              5.4        106.6      0.8
        100000     85.8              5.4        171.0      8.1

The traced peak of the build is flat. Max RSS is the whole process's lifetime high-water mark, so it
includes seeding (bulk creation in 5,000-row batches), not only the build.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

os.environ["STEWARD_VAR_DIR"] = tempfile.mkdtemp(prefix="steward-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("DATABASE_URL", None)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from governance import audit  # noqa: E402
from governance.actors import system  # noqa: E402
from governance.evidence.builder import build_pack  # noqa: E402
from governance.evidence.models import EvidenceExport  # noqa: E402
from governance.evidence.services import default_period  # noqa: E402
from governance.people.models import User  # noqa: E402
from inventory.models import Credential, Grant, Identity  # noqa: E402


def grow_to(target: int, owner) -> None:
    have = Identity.objects.count()
    now = timezone.now()
    batch = 5000
    while have < target:
        n = min(batch, target - have)
        made = Identity.objects.bulk_create(
            Identity(name=f"bench-{have + i}", kind="bot", owner=owner, status="active", approved_at=now)
            for i in range(n)
        )
        Grant.objects.bulk_create(
            Grant(identity=i, resource_kind="repository", resource_name="org/x") for i in made
        )
        Credential.objects.bulk_create(Credential(identity=i, kind="static_key", label="k") for i in made)
        with transaction.atomic():
            audit.record_many(system("bench"), [{"verb": "identity.created", "subject": i} for i in made])
        have += n


def main(sizes: list[int]) -> None:
    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench-auditor", password="x")
    start, end = default_period()
    print(f"{'identities':>10} {'seconds':>8} {'traced peak MiB':>16} {'max RSS MiB':>12} {'zip MiB':>8}")
    for size in sizes:
        grow_to(size, owner)
        export = EvidenceExport.objects.create(requested_by=owner, period_start=start, period_end=end)
        tracemalloc.start()
        began = time.monotonic()
        export = build_pack(export.pk)
        took = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert export.state == "ready", export.error
        print(f"{size:>10} {took:>8.1f} {peak / 2**20:>16.1f} {rss:>12.1f} {export.size / 2**20:>8.1f}")


if __name__ == "__main__":
    try:
        main([int(a) for a in sys.argv[1:]] or [5000, 20000])
    finally:
        shutil.rmtree(os.environ["STEWARD_VAR_DIR"], ignore_errors=True)
