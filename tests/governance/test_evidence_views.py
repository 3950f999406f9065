"""The evidence pages and API: controls with live status, exporting, polling, download, verify, sampling."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from governance.evidence.models import Control, EvidenceExport
from governance.evidence.sampling import draw_sample
from governance.evidence.services import default_period
from governance.findings.catalogue import RULES
from governance.models import AuditEvent
from tests.factories import IdentityFactory, UserFactory
from tests.governance.evidence_support import export_now, post_export, small_estate

pytestmark = pytest.mark.django_db


def test_the_catalogue_is_loaded_and_reuses_finding_rule_references(db):
    codes = list(Control.objects.values_list("code", flat=True))
    assert codes == [f"STW-0{n}" for n in range(1, 10)]
    rotation = Control.objects.get(code="STW-04")
    assert "credential_rotation_overdue" in rotation.rules
    for framework, refs in RULES["credential_rotation_overdue"].references.items():
        assert set(refs) <= set(rotation.references[framework])
    every_ref = {ref for c in Control.objects.all() for ref in c.reference_list()}
    for expected in (
        "NIST CSF 2.0: PR.AA-05",
        "NIST AI RMF 1.0: GOVERN 1.6",
        "SOC 2 TSC 2017: CC6.1",
        "CIS Controls v8: 6.8",
    ):
        assert expected in every_ref
    assert {f"NHI{n}" for n in range(1, 11)} <= {
        r.split(": ")[1].split(" ")[0] for r in every_ref if r.startswith("OWASP NHI Top 10 2025: ")
    }
    assert {"ASI03", "ASI10"} <= {
        r.split(": ")[1].split(" ")[0] for r in every_ref if r.startswith("OWASP Agentic Top 10 2026: ")
    }


def test_controls_page_shows_live_status_from_the_estate(client, auditor, owner):
    today = timezone.localdate()
    IdentityFactory(owner=owner, next_review_due=today + timedelta(days=10))
    IdentityFactory(owner=owner, next_review_due=today - timedelta(days=1))
    gone = UserFactory(is_active=False)
    IdentityFactory(owner=gone, next_review_due=today + timedelta(days=3))
    client.force_login(auditor)
    response = client.get("/evidence/controls/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "67% of active identities reviewed on time; 1 overdue" in html
    assert "67% of active identities have an active owner; 1 orphaned" in html


def test_controls_page_uses_a_fixed_number_of_queries(client, auditor, owner, django_assert_max_num_queries):
    client.force_login(auditor)
    IdentityFactory(owner=owner)
    with django_assert_max_num_queries(16):
        client.get("/evidence/controls/")
    for _ in range(15):
        IdentityFactory(owner=owner)
    with django_assert_max_num_queries(16):
        client.get("/evidence/controls/")


def test_evidence_page_defaults_to_the_last_90_days_and_lists_packs(
    client, auditor, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    export_now(auditor, django_capture_on_commit_callbacks)
    client.force_login(auditor)
    start, end = default_period()
    with django_assert_max_num_queries(12):
        html = client.get("/evidence/").content.decode()
    assert f'value="{start.isoformat()}"' in html and f'value="{end.isoformat()}"' in html
    assert "Download" in html
    for _ in range(5):
        export_now(auditor, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(12):
        client.get("/evidence/")


def test_posting_the_form_queues_a_pack_that_becomes_downloadable(
    client, auditor, django_capture_on_commit_callbacks
):
    client.force_login(auditor)
    response = post_export(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    export = EvidenceExport.objects.get()
    row = client.get(f"/evidence/evidence-exports/{export.pk}/row/").content.decode()
    assert 'data-state="ready"' in row and "every 2s" not in row
    download = client.get(f"/evidence/evidence-exports/{export.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content)[:2] == b"PK"


def test_a_pending_row_polls_every_two_seconds(client, auditor):
    export = EvidenceExport.objects.create(
        requested_by=auditor, period_start="2026-01-01", period_end="2026-01-31"
    )
    client.force_login(auditor)
    row = client.get(f"/evidence/evidence-exports/{export.pk}/row/").content.decode()
    assert 'hx-trigger="every 2s"' in row
    assert client.get(f"/evidence/evidence-exports/{export.pk}/download/").status_code == 404


def test_an_inverted_period_shows_the_error_and_writes_nothing(client, iam):
    client.force_login(iam)
    response = client.post("/evidence/", {"period_start": "2026-02-01", "period_end": "2026-01-01"})
    assert response.status_code == 400
    assert "must end on or after its start" in response.content.decode()
    assert not EvidenceExport.objects.exists()


def test_owners_do_not_reach_the_evidence_pages(client, owner):
    client.force_login(owner)
    for path in ("/evidence/", "/evidence/controls/", "/evidence/verify/"):
        assert client.get(path).status_code == 403


def test_api_creates_lists_and_downloads_packs(api_as, iam, django_capture_on_commit_callbacks):
    api = api_as(iam)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/evidence-exports/",
            {"period_start": "2026-01-01", "period_end": "2026-01-31"},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert created.json()["state"] == "pending"
    pk = created.json()["id"]
    detail = api.get(f"/api/v1/evidence-exports/{pk}/").json()
    assert detail["state"] == "ready" and detail["requested_by"] == "iam"
    listing = api.get("/api/v1/evidence-exports/").json()
    assert listing["count"] == 1
    download = api.get(f"/api/v1/evidence-exports/{pk}/download/")
    assert download.status_code == 200


def test_api_rejects_a_bad_period_per_field(api_as, iam):
    response = api_as(iam).post(
        "/api/v1/evidence-exports/", {"period_start": "2026-03-01", "period_end": "2026-01-01"}, format="json"
    )
    assert response.status_code == 400
    assert "period_end" in response.json()
    assert not EvidenceExport.objects.exists()


def test_api_refuses_owners(api_as, owner):
    assert api_as(owner).get("/api/v1/evidence-exports/").status_code == 403


def test_the_verify_page_accepts_an_intact_pack_and_names_a_bad_file(
    client, auditor, owner, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    from django.conf import settings

    data = (Path(settings.MEDIA_ROOT) / export.file_path).read_bytes()
    client.force_login(auditor)
    before = AuditEvent.objects.count()
    ok = client.post("/evidence/verify/", {"pack": io.BytesIO(data)})
    assert "Pack verified" in ok.content.decode()
    bad = client.post("/evidence/verify/", {"pack": io.BytesIO(b"not a zip")})
    assert "not a readable zip" in bad.content.decode()
    assert AuditEvent.objects.count() == before


def test_samples_are_reproducible_from_the_seed(requester_requests):
    start, end = default_period()
    first = draw_sample("approvals", start, end, 3, "abc123")
    again = draw_sample("approvals", start, end, 3, "abc123")
    assert [r.pk for r in first.items] == [r.pk for r in again.items]
    assert first.population == 8 and len(first.items) == 3
    other = {tuple(r.pk for r in draw_sample("approvals", start, end, 3, f"s{n}").items) for n in range(6)}
    assert len(other) > 1


def test_the_sample_seed_is_shown_on_the_page(client, auditor, requester_requests):
    client.force_login(auditor)
    html = client.get("/evidence/?sample_kind=approvals&size=2").content.decode()
    assert "Seed <code>" in html and "2 of 8 approvals" in html
    assert client.get("/evidence/?sample_kind=approvals&size=0").status_code == 200


@pytest.fixture
def requester_requests(owner, team):
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(Control)
    return [
        ApprovalRequest.objects.create(
            kind="intake",
            content_type=ct,
            object_id=n,
            title=f"request {n}",
            requester=owner,
            team=team,
            tier="low",
        )
        for n in range(8)
    ]


def test_api_list_uses_a_fixed_number_of_queries(api_as, auditor, django_assert_max_num_queries):
    api = api_as(auditor)
    EvidenceExport.objects.create(requested_by=auditor, period_start="2026-01-01", period_end="2026-01-31")
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/evidence-exports/").status_code == 200
    EvidenceExport.objects.bulk_create(
        EvidenceExport(requested_by=auditor, period_start="2026-01-01", period_end="2026-01-31")
        for _ in range(12)
    )
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/evidence-exports/").json()["count"] == 13


def test_review_items_decided_in_the_period_are_sampled_reproducibly_with_a_link_back(
    client, auditor, iam, owner
):
    import html as html_lib
    import re

    from governance.reviews.services.decisions import decide
    from governance.reviews.services.launch import launch_campaign

    for n in range(6):
        IdentityFactory(owner=owner, name=f"sampled-{n}", risk_tier="low")
    campaign = launch_campaign(iam, "Q1", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=14))
    items = list(campaign.items.order_by("pk"))
    for item in items[:5]:  # one stays undecided: it is not in the population
        decide(owner, item, "certify", reason="still needed")
    start, end = default_period()
    first = draw_sample("reviews", start, end, 3, "seed-7")
    assert first.population == 5 and len(first.items) == 3
    assert [i.pk for i in first.items] == [
        i.pk for i in draw_sample("reviews", start, end, 3, "seed-7").items
    ]
    assert items[5].pk not in {i.pk for i in first.items}

    client.force_login(auditor)
    page = client.get("/evidence/?sample_kind=reviews&size=3&seed=seed-7").content.decode()
    assert "Seed <code>seed-7</code>: 3 of 5 reviews" in page
    for item in first.items:
        assert f'href="/reviews/items/{item.pk}/"' in page
    permalink = html_lib.unescape(re.search(r'href="([^"]+)" data-testid="sample-permalink"', page)[1])
    again = client.get(f"/evidence/{permalink}").content.decode()
    assert [f"/reviews/items/{i.pk}/" for i in first.items] == re.findall(
        r'href="(/reviews/items/\d+/)"', again
    )
