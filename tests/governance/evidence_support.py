"""Helpers for the evidence tests: a small estate with history, and building a pack inline."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from governance import audit
from governance.actors import system
from governance.evidence.models import EvidenceExport
from governance.evidence.services import default_period, request_export
from governance.findings.models import Finding
from governance.jobs.models import JobRun
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


def small_estate(owner):
    now = timezone.now()
    identities = [IdentityFactory(owner=owner, name=f"bot-{n}") for n in range(3)]
    identities.append(IdentityFactory(owner=owner, name="=cmd|evil", status="decommissioned"))
    for identity in identities:
        GrantFactory(identity=identity)
        CredentialFactory(identity=identity)
    CredentialFactory(
        identity=identities[0],
        revoked_at=now - timedelta(days=3),
        revocation_confirmed_at=now - timedelta(days=2),
        revocation_confirmed_by="iam",
    )
    Finding.objects.create(rule="stale_unused", identity=identities[1], severity="medium")
    # Not a fresh install: a sweep has run (a first export would sweep first; test_evidence_summary).
    JobRun.objects.create(name="sweep", ok=True, trigger="test", finished_at=now)
    from django.db import transaction

    with transaction.atomic():
        for identity in identities:
            audit.record(system("test"), "identity.created", identity, after={"name": identity.name})
    return identities


def export_now(user, django_capture_on_commit_callbacks, period=None) -> EvidenceExport:
    start, end = period or default_period()
    with django_capture_on_commit_callbacks(execute=True):
        export = request_export(user, start.isoformat(), end.isoformat())
    export.refresh_from_db()
    return export


def post_export(client, django_capture_on_commit_callbacks):
    """The evidence page's form posted for the default period, its after-commit work run."""
    start, end = default_period()
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/evidence/", {"period_start": start.isoformat(), "period_end": end.isoformat()})
