"""SCIM compliance: scim2-tester (python-scim's RFC 7643/7644 checker) against a live Steward.

A real server thread (pytest-django's `live_server`, on this worker's own test database: a file on
SQLite, a per-worker database on PostgreSQL) is driven over HTTP by scim2-client's httpx2 engine with
a token from `manage.py issue_scim_token`. `check_server` reads the discovery endpoints, builds the
models from the schemas Steward publishes, and then, for Users and Groups: creates, reads, lists,
asks for `attributes`/`excludedAttributes` (on a resource, on the list and with POST `/.search` at the
root), replaces, deletes (then expects 404), and PATCHes every published attribute with add,
replace and remove, comparing what comes back; plus 405 on the discovery endpoints for other methods
and a SCIM 404 on an unknown URL.

No check is skipped: Steward announces PATCH (so the PATCH checks run) and serves `/.search` at the
root (so that check does not fall back to "not supported"). Bulk, sorting, ETags and password change
are announced as unsupported in ServiceProviderConfig; scim2-tester 0.5 has no checks for them or for
filters. Those are covered by tests/security/test_scim.py instead.
"""

from __future__ import annotations

import io
from collections import Counter

import httpx2
import pytest
from django.core.management import call_command
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = (Status.ERROR, Status.CRITICAL)


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_finds_nothing_wrong(live_server):
    out = io.StringIO()
    call_command("issue_scim_token", "--days", "1", stdout=out, stderr=io.StringIO())
    headers = {"Authorization": f"Bearer {out.getvalue().strip()}"}
    with httpx2.Client(base_url=f"{live_server.url}/scim/v2", headers=headers, timeout=30) as http:
        results = check_server(SyncSCIMClient(http))

    counts = Counter(result.status.name for result in results)
    failures = [
        f"{r.resource_type or '-'} {r.title}: {r.reason} {str(r.data)[:300]}"
        for r in results
        if r.status in FAILING
    ]
    skipped = [
        f"{r.resource_type or '-'} {r.title}: {r.reason}" for r in results if r.status == Status.SKIPPED
    ]
    assert not failures, f"{counts}\n" + "\n".join(failures)
    assert not skipped, "checks skipped (list them in the docstring, with why):\n" + "\n".join(skipped)
    ran = {(r.resource_type, r.title) for r in results}
    for resource_type in ("User", "Group"):
        for check in (
            "object_creation",
            "object_replacement",
            "object_deletion",
            "check_add_attribute",
            "check_replace_attribute",
            "check_remove_attribute",
            "search_with_attributes",
        ):
            assert (resource_type, check) in ran, (resource_type, check)
    assert counts["SUCCESS"] >= 60, counts
