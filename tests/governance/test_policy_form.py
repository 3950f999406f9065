"""The governance policy as a form (issue 22 item 4): labelled fields per tier, lists, deny rules;
per-field errors that change nothing; a preview of what changes before proposing; the JSON tab; and
the two-person rule still holding (proposing only stores a proposed version)."""

import copy
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import AuditEvent
from governance.policy.forms import MAX_STEPS, PolicyForm
from governance.policy.models import PolicyVersion
from governance.policy.services import DEFAULT_POLICY, SEVERITIES, TIERS, current_policy

pytestmark = pytest.mark.django_db

URL = "policy-document-edit"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(document: dict, **changes) -> dict:
    """What the browser sends for `document` unchanged, with `changes` (field name → value) on top."""
    data: dict = {"mode": "form", "based_on": str(current_policy().version)}
    for tier in TIERS:
        steps = document["tiers"][tier]["steps"]
        for n in range(MAX_STEPS):
            data[f"tier-{tier}-step_{n + 1}"] = steps[n] if n < len(steps) else ""
        for key in ("review_days", "rotation_days", "stale_days", "exception_max_days"):
            data[f"tier-{tier}-{key}"] = str(document["tiers"][tier][key])
    for key in ("allowed_vendors", "allowed_models"):
        data[f"general-{key}"] = "\n".join(document[key])
    for key in ("min_owners", "request_reminder_days", "request_expiry_days", "threat_catalogue"):
        data[f"general-{key}"] = str(document[key])
    for severity in SEVERITIES:
        data[f"general-sla_{severity}"] = str(document["finding_sla_days"][severity])
    rules = document["deny_rules"]
    data.update({"deny-TOTAL_FORMS": str(len(rules) + 1), "deny-INITIAL_FORMS": str(len(rules))})
    data.update({"deny-MIN_NUM_FORMS": "0", "deny-MAX_NUM_FORMS": "50"})
    for n, rule in enumerate(rules):
        data[f"deny-{n}-code"] = rule["code"]
        data[f"deny-{n}-message"] = rule["message"]
        for key in ("kinds", "environments", "actions"):
            data[f"deny-{n}-{key}"] = list(rule[key])
    data.update(changes)
    return data


def preview(client, data) -> tuple[int, str, str]:
    response = client.post(reverse(URL), {**data, "intent": "preview"})
    html = response.content.decode()
    digests = [d for d in re.findall(r'name="previewed" value="([0-9a-f]*)"', html) if d]
    return response.status_code, html, digests[0] if digests else ""


def propose(client, data, note="tighter reviews"):
    status, html, digest = preview(client, data)
    assert status == 200, html
    return client.post(reverse(URL), {**data, "intent": "propose", "previewed": digest, "note": note})


def test_the_form_shows_each_setting_of_the_policy_in_force_with_a_label(security):
    html = signed_in(security).get(reverse(URL)).content.decode()
    assert '<legend class="h6 float-none w-auto px-1 mb-1">Critical tier</legend>' in html
    assert 'for="id_tier-high-review_days">Access review every (days)</label>' in html
    assert 'name="tier-high-review_days" value="90"' in html
    assert 'name="general-sla_critical" value="7"' in html
    assert "Deny rule assistant_prod_secrets" in html and "Anthropic\nGitHub" in html
    assert 'id="document-json"' in html  # the JSON tab, for advanced edits


def test_only_security_opens_the_form(iam, auditor, owner):
    for user in (iam, auditor, owner):
        assert signed_in(user).get(reverse(URL)).status_code == 403


def test_the_preview_lists_what_changes_and_writes_nothing(security):
    data = form_data(DEFAULT_POLICY, **{"tier-high-review_days": "60", "general-allowed_models": "claude"})
    status, html, digest = preview(signed_in(security), data)
    assert status == 200 and digest
    assert "High tier · Access review every (days)" in html and "tiers.high.review_days" in html
    assert '<span class="diff-add mono">+ claude</span>' in html
    assert not PolicyVersion.objects.filter(state="proposed").exists()


def test_proposing_stores_a_proposed_version_audited_with_the_person_and_changes_nothing_in_force(security):
    before = current_policy()
    data = form_data(
        before.document,
        **{
            "tier-critical-step_4": "security",
            "deny-2-code": "bots_no_deploy",
            "deny-2-message": "Bots do not deploy to prod.",
            "deny-2-kinds": ["bot"],
            "deny-2-environments": ["prod"],
            "deny-2-actions": ["deploy"],
            "deny-0-DELETE": "on",
        },
    )
    response = propose(signed_in(security), data, note="a fourth step for critical")
    proposal = PolicyVersion.objects.get(state="proposed")
    assert response.status_code == 302 and response["Location"] == proposal.get_absolute_url()
    assert proposal.created_by == "security" and proposal.note == "a fourth step for critical"
    assert proposal.document["tiers"]["critical"]["steps"] == ["iam", "iam", "security", "security"]
    assert [r["code"] for r in proposal.document["deny_rules"]] == ["agent_prod_admin", "bots_no_deploy"]
    # Settings the form does not show are carried over unchanged.
    assert proposal.document["auto_approve"] == before.document["auto_approve"]
    assert proposal.document["jit"] == before.document["jit"]
    event = AuditEvent.objects.filter(verb="policy.proposed").latest("seq")
    assert event.actor == "security"
    assert current_policy().version == before.version  # in force only once a second person approves


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tier-high-review_days": "0"}, "tier-high-review_days", "At least 1 day."),
        ({"tier-low-rotation_days": "9999"}, "tier-low-rotation_days", "At most 3650 days"),
        ({"tier-medium-step_1": ""}, "tier-medium-step_1", "The first approval step is needed."),
        ({"tier-high-step_4": "iam"}, "tier-high-step_4", "Fill the steps in order: step 3 is empty."),
        ({"general-sla_high": "200"}, "general-sla_high", "High may not have longer than medium (90 days)."),
        ({"general-allowed_vendors": "GitHub\ngithub"}, "general-allowed_vendors", "listed twice"),
        ({"general-request_reminder_days": "20"}, "general-request_reminder_days", "Remind before"),
        ({"deny-1-code": "assistant_prod_secrets"}, "deny-1-code", "Another rule already uses the code"),
        ({"deny-0-message": ""}, "deny-0-message", "Say why it is denied"),
        ({"deny-2-code": "no spaces"}, "deny-2-code", "Letters, digits, underscores and hyphens only."),
    ],
)
def test_bad_input_gets_an_error_next_to_its_field_and_nothing_changes(security, changes, field, message):
    data = form_data(DEFAULT_POLICY, **changes)
    response = signed_in(security).post(reverse(URL), {**data, "intent": "propose", "note": "x"})
    html = response.content.decode()
    assert response.status_code == 400
    errors = re.findall(rf'data-field-error="{re.escape(field)}">([^<]*)<', html)
    assert any(message in e for e in errors), (errors, html[:500])
    assert f'name="{field}"' in html and "Nothing was proposed." in html
    assert not PolicyVersion.objects.filter(state="proposed").exists()


def test_proposing_needs_a_preview_of_exactly_what_is_sent_and_a_reason(security):
    client = signed_in(security)
    data = form_data(DEFAULT_POLICY, **{"tier-high-review_days": "60"})
    unseen = client.post(reverse(URL), {**data, "intent": "propose", "previewed": "", "note": "x"})
    assert unseen.status_code == 400 and "changed since the preview" in unseen.content.decode()
    _, _, digest = preview(client, data)
    edited = {**data, "tier-high-review_days": "30"}
    after_edit = client.post(reverse(URL), {**edited, "intent": "propose", "previewed": digest, "note": "x"})
    assert after_edit.status_code == 400
    no_reason = client.post(reverse(URL), {**data, "intent": "propose", "previewed": digest, "note": " "})
    assert no_reason.status_code == 400 and "Say why this change is needed" in no_reason.content.decode()
    unchanged = form_data(current_policy().document)
    _, _, same = preview(client, unchanged)
    nothing = client.post(reverse(URL), {**unchanged, "intent": "propose", "previewed": same, "note": "x"})
    assert "This changes nothing" in nothing.content.decode()
    assert not PolicyVersion.objects.filter(state="proposed").exists()


def test_the_json_tab_keeps_the_text_and_shows_service_errors(security):
    client = signed_in(security)
    broken = client.post(reverse(URL), {"mode": "json", "document": "{not json", "intent": "preview"})
    assert broken.status_code == 400 and "Not valid JSON" in broken.content.decode()
    assert "{not json" in broken.content.decode()
    document = copy.deepcopy(DEFAULT_POLICY)
    document["finding_sla_days"]["critical"] = 500
    invalid = client.post(
        reverse(URL), {"mode": "json", "document": json.dumps(document), "intent": "preview"}
    )
    assert invalid.status_code == 400 and "finding_sla_days: critical (500 days)" in invalid.content.decode()
    document["finding_sla_days"]["critical"] = 5
    data = {"mode": "json", "document": json.dumps(document), "based_on": str(current_policy().version)}
    response = propose(client, data, note="faster fixes for critical findings")
    assert response.status_code == 302, re.findall(r"<li>([^<]*)</li>", response.content.decode())
    assert PolicyVersion.objects.get(state="proposed").document["finding_sla_days"]["critical"] == 5


def test_the_form_round_trips_the_policy_in_force_unchanged():
    form = PolicyForm(DEFAULT_POLICY, form_data(DEFAULT_POLICY))
    assert form.is_valid(), [f.errors for f in form.tiers] + [form.general.errors, form.deny_rules.errors]
    assert form.document() == DEFAULT_POLICY
