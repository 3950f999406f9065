"""History people can read (issue 22 item 3): the audit log, the identity timeline and the import
preview show before → after per field with labels, the subject links to its page, the raw JSON is one
click away, and enum values read as labels in the grant table."""

import pytest
from django.db import transaction
from playwright.sync_api import expect

from governance import audit
from governance.actors import as_actor
from tests.factories import GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "source,external_id,name,kind,vendor,product,purpose,owner,team,environments,data_classification,"
    "autonomous,grants\n"
    "ci,docs-bot-1,docs-bot,ai_agent,Acme,Docs Bot,Writes release notes,owner,platform,prod;staging,"
    "confidential,true,secret_store:vault/ci=read_secrets\n"
)


def test_auditor_reads_a_change_follows_its_subject_and_opens_the_raw_json(
    page, live_server, login, role_users
):
    bot = IdentityFactory(owner=role_users["owner"], name="deploy-bot")
    GrantFactory(
        identity=bot, resource_kind="secret_store", resource_name="vault/ci", actions=["open_pr", "merge"]
    )
    with transaction.atomic():
        audit.record(
            as_actor(role_users["iam"]),
            "identity.updated",
            bot,
            before={"risk_tier": "high", "environments": ["dev"]},
            after={"risk_tier": "critical", "environments": ["dev", "prod"]},
            reason="Now deploys to production",
        )
    login(page, "auditor")
    page.goto(f"{live_server.url}/audit/?verb=identity.updated")
    row = page.get_by_role("row").filter(has_text="Now deploys to production")
    tier = row.locator(".change-row[data-field=risk_tier]")
    expect(tier.locator("dt")).to_have_text("Risk tier")
    expect(tier.get_by_test_id("change-before")).to_have_text("High")
    expect(tier.get_by_test_id("change-after")).to_have_text("Critical")
    expect(row.locator(".change-row[data-field=environments] dt")).to_have_text("Environments")
    expect(row.locator(".change-row[data-field=environments]").get_by_test_id("change-after")).to_have_text(
        "Dev, Prod"
    )
    expect(row).not_to_contain_text("{'risk_tier'")
    expect(row.get_by_test_id("audit-subject-kind")).to_have_text("Identity")

    # The raw JSON is there for the curious, closed until asked for.
    raw = row.get_by_test_id("raw-json")
    expect(raw).to_be_hidden()
    row.get_by_text("Raw JSON").click()
    expect(raw).to_be_visible()
    expect(raw).to_contain_text('"risk_tier": "critical"')

    # The subject is a link to its page, where the timeline reads the same way.
    row.get_by_test_id("audit-subject").click()
    page.wait_for_url(f"**/inventory/{bot.pk}/")
    history = page.get_by_test_id("history")
    expect(history.locator(".change-row[data-field=risk_tier]")).to_contain_text("High")
    expect(history.locator(".change-row[data-field=risk_tier]")).to_contain_text("Critical")
    expect(history).not_to_contain_text("{'risk_tier'")
    # Enum values in the grant table are labels.
    grant = page.get_by_test_id("current-grants").get_by_test_id("grant")
    expect(grant).to_contain_text("Secret store")
    expect(grant).to_contain_text("Open pull requests")
    expect(grant).not_to_contain_text("secret_store")
    expect(grant).not_to_contain_text("open_pr")


def test_import_preview_names_fields_and_values(page, live_server, login, role_users, tmp_path):
    upload = tmp_path / "bots.csv"
    upload.write_text(CSV)
    login(page, "iam")
    page.goto(f"{live_server.url}/inventory/import/")
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Preview changes").click()
    preview = page.get_by_test_id("import-preview")
    expect(preview).to_contain_text("1 to create")
    rows = preview.get_by_test_id("change-rows")
    expect(rows.locator(".change-row[data-field=data_classification] dt")).to_have_text("Data classification")
    expect(rows.locator(".change-row[data-field=data_classification] dd")).to_have_text("Confidential")
    expect(rows.locator(".change-row[data-field=kind] dd")).to_have_text("AI agent")
    expect(rows.locator(".change-row[data-field=autonomous] dd")).to_have_text("yes")
    expect(preview).not_to_contain_text("data_classification")
    expect(preview.get_by_test_id("change-before")).to_have_count(0)  # new rows have nothing before
