"""Review records in the pack (issue 19 items 8 and 9): campaigns with scope, dates and a population hash
recomputable from the pack alone; per item the assigned reviewer and who decided, the viewing time (or
that an API decision had none), the sign-off, rubber-stamp flags, and a revoke's remediation with decision,
action and confirmation times and who confirmed; the summary's median counts confirmed ones only."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from governance.reviews.models import RUBBER_STAMP_COUNT
from governance.reviews.services import confirm_remediation, decide, launch_campaign, record_shown, sign_off
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory
from tests.governance.evidence_support import export_now

pytestmark = pytest.mark.django_db


def _path(export) -> Path:
    return Path(django_settings.MEDIA_ROOT) / export.file_path


def _csv(export, name) -> list[dict]:
    with zipfile.ZipFile(_path(export)) as zf:
        return list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8", newline="")))


def test_campaigns_and_items_carry_scope_dates_reviewer_decider_signoff_and_a_recomputable_hash(
    iam, iam2, owner, auditor, tmp_path, django_capture_on_commit_callbacks
):
    high = IdentityFactory(owner=owner, name="deployer", risk_tier="high")
    low = IdentityFactory(owner=owner, name="helper", risk_tier="low")
    due = timezone.now() + timedelta(days=14)
    campaign = launch_campaign(iam, "Q4 review", {"risk_tiers": ["high", "low"]}, due)
    high_item, low_item = campaign.items.get(identity=high), campaign.items.get(identity=low)
    record_shown(owner, [high_item])
    decide(owner, high_item, "certify", "deploys payments; grants checked")
    sign_off(iam2, high_item, "agreed")
    decide(iam, low_item, "certify", "still used")  # IAM decided an item assigned to the owner

    export = export_now(auditor, django_capture_on_commit_callbacks)
    (row,) = [c for c in _csv(export, "review_campaigns.csv") if c["id"] == str(campaign.pk)]
    assert row["name"] == "Q4 review" and '"risk_tiers": ["high", "low"]' in row["scope"]
    assert row["launched_by"] == "iam" and row["launched_at"] == campaign.launched_at.isoformat()
    assert row["due_at"] == campaign.due_at.isoformat() and row["closed_at"] == ""
    assert row["population_count"] == "2" and row["population_sha256"] == campaign.population_sha256
    assert row["decided"] == "2" and row["signed_off"] == "1"
    with zipfile.ZipFile(_path(export)) as zf:
        summary = zf.read("summary.html").decode()
    assert f"#{campaign.pk} Q4 review" in summary and campaign.population_sha256 in summary

    items = {r["identity_name"]: r for r in _csv(export, "reviews.csv")}
    assert items["helper"]["reviewer"] == "owner" and items["helper"]["decided_by"] == "iam"
    assert items["helper"]["decided_by_is_reviewer"] == "False"
    assert items["deployer"]["decided_by_is_reviewer"] == "True"
    assert items["deployer"]["signoff_state"] == "signed" and items["deployer"]["signoff_by"] == "iam2"
    assert items["deployer"]["signoff_at"] and items["deployer"]["viewing"] == "measured"
    assert items["deployer"]["decided_via"] == "browser"

    # The hash is recomputable from the pack alone, with VERIFY.md's own snippet.
    with zipfile.ZipFile(_path(export)) as zf:
        verify = zf.read("VERIFY.md").decode()
    section = verify.split("## 8.")[1]
    script = tmp_path / "check_population.py"
    script.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    done = subprocess.run([sys.executable, str(script), str(_path(export))], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "matches its hash" in done.stdout
    # ...and a forged snapshot no longer matches.
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(_path(export)) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "review_population.jsonl":
                data = data.replace(b'"owner": "owner"', b'"owner": "someone-else"', 1)
            dst.writestr(info.filename, data)
    refused = subprocess.run([sys.executable, str(script), str(forged)], capture_output=True, text=True)
    assert refused.returncode != 0


def test_api_decisions_record_viewing_time_when_read_first_and_are_flagged_otherwise(
    api_as, iam, owner, auditor, django_capture_on_commit_callbacks
):
    read = IdentityFactory(owner=owner, name="read-first", risk_tier="low")
    blind = IdentityFactory(owner=owner, name="blind", risk_tier="low")
    campaign = launch_campaign(iam, "API", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7))
    client = api_as(owner)
    first = campaign.items.get(identity=read)
    assert client.get(f"/api/v1/review-items/{first.pk}/").status_code == 200
    first.refresh_from_db()
    assert first.shown_at is not None  # reading it through the API starts its viewing time
    ok = client.post(f"/api/v1/review-items/{first.pk}/decide/", {"decision": "certify"}, format="json")
    assert ok.status_code == 200 and ok.json()["display_seconds"] is not None
    other = campaign.items.get(identity=blind)
    client.post(f"/api/v1/review-items/{other.pk}/decide/", {"decision": "certify"}, format="json")

    items = {
        r["identity_name"]: r
        for r in _csv(export_now(auditor, django_capture_on_commit_callbacks), "reviews.csv")
    }
    assert items["read-first"]["viewing"] == "measured" and items["read-first"]["decided_via"] == "api"
    assert items["blind"]["display_seconds"] == "" and items["blind"]["viewing"].startswith("api:")


def test_quick_certifications_and_rubber_stamp_reviewers_are_flagged(
    iam, owner, auditor, django_capture_on_commit_callbacks
):
    bots = [
        IdentityFactory(owner=owner, name=f"fast-{n}", risk_tier="low") for n in range(RUBBER_STAMP_COUNT)
    ]
    campaign = launch_campaign(iam, "Fast", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7))
    items = list(campaign.items.all())
    record_shown(owner, items)
    for item in items:
        decide(owner, item, "certify", "")
    export = export_now(auditor, django_capture_on_commit_callbacks)
    rows = [r for r in _csv(export, "reviews.csv") if r["campaign"] == str(campaign.pk)]
    assert len(rows) == len(bots)
    assert all(
        r["quick_certification"] == "True" and r["reviewer_flagged_rubber_stamp"] == "True" for r in rows
    )
    (row,) = [c for c in _csv(export, "review_campaigns.csv") if c["id"] == str(campaign.pk)]
    assert row["rubber_stamp_reviewers"].startswith(f"owner ({RUBBER_STAMP_COUNT} certified")


def test_remediation_times_and_confirmer_in_the_pack_and_a_median_over_confirmed_only(
    iam, owner, auditor, django_capture_on_commit_callbacks
):
    bots = [IdentityFactory(owner=owner, name=f"revoked-{n}", risk_tier="low") for n in range(5)]
    for bot in bots:
        GrantFactory(identity=bot)
        CredentialFactory(identity=bot)
    campaign = launch_campaign(iam, "Clean-up", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7))
    items = {i.identity_id: i for i in campaign.items.all()}
    for bot in bots:
        decide(owner, items[bot.pk], "revoke", "unused")
    confirm_remediation(iam, items[bots[0].pk], "keys deleted, SEC-7")

    export = export_now(auditor, django_capture_on_commit_callbacks)
    rows = {r["identity_name"]: r for r in _csv(export, "reviews.csv")}
    done = rows["revoked-0"]
    assert done["remediation_state"] == "confirmed" and done["remediation_confirmed_by"] == "iam"
    assert done["decided_by"] == "owner" and done["decided_at"] and done["remediation_action_at"]
    assert done["remediation_confirmed_at"] and done["remediation_lag_hours"] == "0.0"
    waiting = rows["revoked-1"]
    assert waiting["remediation_state"] == "pending" and waiting["remediation_confirmed_at"] == ""
    assert waiting["remediation_lag_hours"] == ""
    with zipfile.ZipFile(_path(export)) as zf:
        summary = zf.read("summary.html").decode()
    assert "5 review revokes decided in the period: 1 confirmed independently" in summary
    assert "<strong>4 pending</strong>" in summary and "confirmed ones only" in summary
