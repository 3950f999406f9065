"""Bulk import: dry-run diff, idempotent re-import, all-or-nothing with row/column errors, limits, page."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.demo import seed_people
from governance.models import AuditEvent
from inventory.models import Credential, Grant, Identity
from tests.factories import IdentityFactory

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
CSV_FILE = EXAMPLES / "ai-coding-assistants.csv"
JSON_FILE = EXAMPLES / "cloud-service-accounts.json"


@pytest.fixture
def demo_people(db):
    return seed_people("pw-for-tests-1")


def upload(client, path_or_bytes, name="import.csv", query=""):
    content = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    name = path_or_bytes.name if isinstance(path_or_bytes, Path) else name
    return client.post(
        f"/api/v1/identities/import/{query}", {"file": SimpleUploadedFile(name, content)}, format="multipart"
    )


def table_state():
    return (
        sorted(
            Identity.objects.values_list(
                "source", "external_id", "name", "status", "owner__username", "risk_tier", "version"
            )
        ),
        sorted(Grant.objects.values_list("identity__external_id", "resource_name", "ended_at")),
        Credential.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", [CSV_FILE, JSON_FILE], ids=["csv", "json"])
def test_dry_run_shows_the_diff_and_writes_nothing(api_as, demo_people, path):
    response = upload(api_as(demo_people["iam"]), path, query="?dry_run=1")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["dry_run"] is True and body["counts"]["created"] == len(body["created"]) > 0
    assert body["updated"] == [] and body["unchanged"] == []
    first = body["created"][0]
    assert first["row"] == (2 if path.suffix == ".csv" else 1)
    assert first["changes"]["name"]["to"] and first["changes"]["kind"]["to"]
    assert Identity.objects.count() == 0 and AuditEvent.objects.filter(verb="identity.created").count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("path", [CSV_FILE, JSON_FILE], ids=["csv", "json"])
def test_importing_the_same_file_twice_leaves_the_same_rows(api_as, demo_people, path):
    client = api_as(demo_people["iam"])
    first = upload(client, path)
    assert first.status_code == 200, first.json()
    state = table_state()
    second = upload(client, path).json()
    assert second["counts"] == {"created": 0, "updated": 0, "unchanged": first.json()["counts"]["created"]}
    assert table_state() == state


@pytest.mark.django_db
def test_imported_without_owner_is_discovered_and_shows_in_triage(api_as, client, demo_people):
    upload(api_as(demo_people["iam"]), JSON_FILE)
    orphan = Identity.objects.get(external_id="arn:aws:iam::111122223333:user/legacy-backup")
    assert orphan.status == "discovered" and orphan.owner is None
    assert orphan.risk_tier in ("high", "critical") and orphan.risk_reasons
    adopted = Identity.objects.get(external_id="arn:aws:iam::111122223333:role/terraform-apply")
    # Critical: one importer cannot make it active; it waits for its route (issue 18, item 3).
    assert adopted.status == "proposed" and adopted.owner.username == "pat"
    assert adopted.activation_requests.get().state == "pending"
    assert adopted.credentials.get().kind == "oidc_federation"
    client.force_login(demo_people["iam"])
    assert "legacy-backup (AWS IAM user)" in client.get("/inventory/triage/").content.decode()


@pytest.mark.django_db
def test_changed_row_is_reported_and_applied_as_an_update(api_as, demo_people):
    client = api_as(demo_people["iam"])
    upload(client, CSV_FILE)
    changed = (
        CSV_FILE.read_text()
        .replace("Code completion for payments engineers", "Completion for payments only")
        .replace(
            "repository:payments/*=read_code,oauth_token,copilot-payments",
            "repository:payments/*=read_code|open_pr,oauth_token,copilot-payments",
        )
    )
    diff = upload(client, changed.encode(), query="?dry_run=1").json()
    assert "updated" in diff, diff
    assert [u["external_id"] for u in diff["updated"]] == ["copilot-seat-payments"]
    changes = diff["updated"][0]["changes"]
    assert changes["purpose"] == {
        "from": "Code completion for payments engineers",
        "to": "Completion for payments only",
    }
    assert "grants" in changes
    upload(client, changed.encode())
    identity = Identity.objects.get(external_id="copilot-seat-payments")
    assert identity.purpose == "Completion for payments only" and identity.version == 2
    assert [g.actions for g in identity.grants.current()] == [["open_pr", "read_code"]]
    assert identity.grants.filter(ended_at__isnull=False).count() == 1
    assert AuditEvent.objects.filter(verb="identity.updated", subject_id=str(identity.pk)).exists()


@pytest.mark.django_db
def test_one_bad_row_imports_nothing_and_names_row_and_column(api_as, demo_people):
    lines = CSV_FILE.read_text().splitlines()
    bad = lines[3].replace(",owner,pat,", ",nobody-by-that-name,pat,")
    content = "\n".join([*lines[:3], bad, *lines[4:]]).encode()
    response = upload(api_as(demo_people["iam"]), content)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"row": 4, "column": "owner", "message": "No active user named 'nobody-by-that-name'."}
    ]
    assert Identity.objects.count() == 0 and Grant.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cell_change,column",
    [
        ((",ide_plugin,GitHub,Copilot Business", ",gadget,GitHub,Copilot Business"), "kind"),
        ((",2026-01-15,", ",15/01/2026,"), "credential_kind"),
        ((",copilot-platform-org-seat,", ",ghp_" + "a1B2c3" * 7 + ","), "credential_kind"),
        ((",owner,pat,platform,", ",owner,owner,platform,"), "backup_owner"),
        (
            (
                ",dev,internal,false,repository:platform/*=read_code,",
                ",dev,internal,false,repository:platform/*=fly,",
            ),
            "grants",
        ),
    ],
    ids=["unknown-kind", "malformed-date", "secret", "owner-is-backup", "bad-action"],
)
def test_row_errors_name_row_and_column(api_as, demo_people, cell_change, column):
    content = CSV_FILE.read_text().replace(*cell_change, 1).encode()
    response = upload(api_as(demo_people["iam"]), content)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {(2, column)}, errors
    assert Identity.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_rows_in_one_file_are_refused(api_as, demo_people):
    lines = CSV_FILE.read_text().splitlines()
    content = "\n".join([lines[0], lines[1], lines[1]]).encode()
    errors = upload(api_as(demo_people["iam"]), content).json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {(3, "external_id"), (3, "name")}


@pytest.mark.django_db
def test_name_taken_by_another_identity_is_a_row_error(api_as, demo_people):
    IdentityFactory(name="GitHub Copilot (platform)", owner=demo_people["owner"])
    errors = upload(api_as(demo_people["iam"]), CSV_FILE).json()["errors"]
    assert errors == [
        {
            "row": 2,
            "column": "name",
            "message": "Another identity is already named 'GitHub Copilot (platform)'.",
        }
    ]


@pytest.mark.django_db
def test_size_and_row_limits(api_as, demo_people, settings):
    client = api_as(demo_people["iam"])
    settings.STEWARD_IMPORT_MAX_ROWS = 3
    assert "At most 3 rows" in upload(client, CSV_FILE).json()["errors"][0]["message"]
    settings.STEWARD_IMPORT_MAX_BYTES = 100
    assert "larger than 100 bytes" in upload(client, CSV_FILE).json()["errors"][0]["message"]
    assert Identity.objects.count() == 0


@pytest.mark.django_db
def test_unknown_columns_and_broken_json_are_reported(api_as, demo_people):
    client = api_as(demo_people["iam"])
    errors = upload(client, b"name,kind,api_secret\nx,bot,y\n").json()["errors"]
    assert errors == [{"row": 1, "column": "api_secret", "message": "Unknown column."}]
    response = upload(client, b'[{"name": "x",', name="broken.json")
    assert response.status_code == 400 and "Not valid JSON" in response.json()["errors"][0]["message"]


@pytest.mark.django_db
def test_raw_json_body_works_too(api_as, demo_people):
    response = api_as(demo_people["security"]).post(
        "/api/v1/identities/import/?dry_run=1", JSON_FILE.read_bytes(), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["counts"]["created"] == 4


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "auditor"])
def test_only_iam_and_security_import(api_as, demo_people, username):
    assert upload(api_as(demo_people[username]), CSV_FILE, query="?dry_run=1").status_code == 403


@pytest.mark.django_db
def test_import_page_previews_then_applies_on_confirm(client, demo_people):
    client.force_login(demo_people["iam"])
    preview = client.post(
        "/inventory/import/", {"file": SimpleUploadedFile("ai.csv", CSV_FILE.read_bytes()), "source": ""}
    )
    html = preview.content.decode()
    assert preview.status_code == 200 and "8 to create" in html and "Confirm import" in html
    assert Identity.objects.count() == 0
    token = preview.context["token"]
    done = client.post("/inventory/import/", {"confirm": token})
    assert done.status_code == 302 and Identity.objects.count() == 8
    # The preview cannot be applied twice.
    again = client.post("/inventory/import/", {"confirm": token}, follow=True)
    assert "expired" in again.content.decode() and Identity.objects.count() == 8


@pytest.mark.django_db
def test_import_page_shows_row_errors(client, demo_people):
    client.force_login(demo_people["iam"])
    content = CSV_FILE.read_text().replace(",ide_plugin,GitHub", ",gadget,GitHub", 1).encode()
    response = client.post("/inventory/import/", {"file": SimpleUploadedFile("ai.csv", content)})
    assert response.status_code == 400 and "Nothing was imported" in response.content.decode()
    assert "gadget" in response.content.decode()
