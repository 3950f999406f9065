"""The browser pages: intake form, live preview, request page, inbox and My requests."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import IntakeRequest
from approvals.services import intake as svc
from inventory.models import DESCRIPTIVE_FIELDS
from tests.factories import UserFactory


def form_data(team, action="submit", **overrides):
    data = {
        "name": "claude-code-web",
        "kind": "ai_assistant",
        "vendor": "Anthropic",
        "product": "Claude Code",
        "model_name": "",
        "purpose": "Helps the platform team write and review code.",
        "owner": "owner",
        "backup_owner": "owner2",
        "team": team.slug,
        "environments": ["prod"],
        "credential_kind": "oidc_federation",
        "data_classification": "internal",
        "grants-TOTAL_FORMS": "1",
        "grants-INITIAL_FORMS": "0",
        "grants-0-resource_kind": "repository",
        "grants-0-resource_name": "org/app",
        "grants-0-actions": ["open_pr", "merge"],
        "grants-0-expires_at": "",
        "action": action,
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status", [("owner", 200), ("iam", 200), ("auditor", 403), ("outsider", 403)]
)
def test_intake_form_by_role(client_as, username, status):
    assert client_as(username).get("/intake/new/").status_code == status


@pytest.mark.django_db
def test_form_field_names_are_the_contract_names(client, owner):
    client.force_login(owner)
    html = client.get("/intake/new/").content.decode()
    # The intake form asks for an identity's descriptive fields under the model's (and API's) names.
    for name in (
        *DESCRIPTIVE_FIELDS,
        "credential_kind",
        "grants-0-resource_kind",
        "grants-0-resource_name",
        "grants-0-actions",
        "grants-0-expires_at",
    ):
        assert f'name="{name}"' in html, name


@pytest.mark.django_db
def test_submitting_the_form_routes_the_request(client, owner, owner2, iam, team):
    client.force_login(owner)
    response = client.post("/intake/new/", form_data(team))
    intake = IntakeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/intake/{intake.pk}/"
    assert intake.state == "submitted" and intake.risk_tier == "high"
    assert intake.grants == [
        {
            "resource_kind": "repository",
            "resource_name": "org/app",
            "actions": ["merge", "open_pr"],
            "expires_at": None,
        }
    ]
    assert intake.backup_owner == owner2


@pytest.mark.django_db
def test_saving_a_draft_accepts_incomplete_answers(client, owner, owner2, team):
    client.force_login(owner)
    data = form_data(
        team, action="draft", purpose="", **{"grants-0-resource_name": "", "grants-0-actions": []}
    )
    data.pop("grants-0-resource_kind")
    assert client.post("/intake/new/", data).status_code == 302
    intake = IntakeRequest.objects.get()
    assert intake.state == "draft" and intake.grants == []


@pytest.mark.django_db
def test_incomplete_submission_shows_field_errors_and_writes_nothing(client, owner, owner2, team):
    client.force_login(owner)
    response = client.post("/intake/new/", form_data(team, purpose="", kind=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-field-error="purpose"' in html and 'data-field-error="kind"' in html
    assert not IntakeRequest.objects.exists()


@pytest.mark.django_db
def test_deny_rule_is_shown_on_submit(client, owner, owner2, team):
    client.force_login(owner)
    data = form_data(team, **{"grants-0-resource_kind": "secret_store", "grants-0-actions": ["read_secrets"]})
    response = client.post("/intake/new/", data)
    assert response.status_code == 400
    assert "may not read or write secrets in prod" in response.content.decode()


@pytest.mark.django_db
def test_live_preview_shows_tier_reasons_and_policy_warnings(client, owner, team):
    client.force_login(owner)
    data = form_data(team, vendor="Shady AI", **{"grants-0-actions": ["read_secrets", "merge"]})
    html = client.post("/intake/preview/", data, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html
    assert 'data-testid="preview-tier">high' in html or 'data-testid="preview-tier">critical' in html
    assert "Reaches production" in html
    assert "may not read or write secrets in prod" in html
    assert "Shady AI" in html and "not on the allowed list" in html
    assert "IAM, then Security" in html


@pytest.mark.django_db
def test_preview_writes_nothing(client, owner, team):
    client.force_login(owner)
    client.post("/intake/preview/", form_data(team))
    assert not IntakeRequest.objects.exists()


@pytest.mark.django_db
def test_add_another_resource_row_via_htmx(client, owner):
    client.force_login(owner)
    html = client.get("/intake/grant-row/?grants-TOTAL_FORMS=2", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="grants-2-resource_name"' in html
    assert 'hx-swap-oob="true"' in html and 'value="3"' in html


@pytest.mark.django_db
def test_add_another_resource_without_javascript(client, owner, owner2, team):
    client.force_login(owner)
    html = client.post("/intake/new/", form_data(team, action="add_grant")).content.decode()
    assert 'name="grants-1-resource_name"' in html
    assert not IntakeRequest.objects.exists()


@pytest.mark.django_db
def test_request_page_shows_answers_risk_checks_steps_and_requester_identities(
    client, owner, iam, make_intake
):
    from tests.factories import IdentityFactory

    IdentityFactory(owner=owner, name="existing-bot")
    intake = make_intake(owner, "high")
    client.force_login(iam)
    html = client.get(f"/intake/{intake.pk}/").content.decode()
    assert intake.name in html and "Helps the platform team" in html
    assert "Reaches production" in html and "No deny rule is broken" in html
    assert "existing-bot" in html
    assert 'name="decision" value="approve"' in html
    assert "Waiting for: Iam" in html


@pytest.mark.django_db
def test_requester_sees_no_decide_buttons_and_a_direct_post_is_403(client, owner, make_intake):
    intake = make_intake(owner, "high")
    client.force_login(owner)
    html = client.get(f"/intake/{intake.pk}/").content.decode()
    assert 'value="approve"' not in html
    assert "cannot decide your own request" in html
    response = client.post(f"/intake/{intake.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    assert "cannot decide your own request" in response.content.decode()
    intake.refresh_from_db()
    assert intake.approval.steps.filter(state="pending").count() == 2


@pytest.mark.django_db
def test_htmx_decision_offers_the_next_item(client, owner, owner2, iam, make_intake):
    first = make_intake(owner, "high")
    second = make_intake(owner2, "medium")
    client.force_login(iam)
    step = first.approval.steps.get(order=1)
    response = client.post(
        f"/intake/{first.pk}/decide/",
        {"decision": "approve", "comment": "ok", "step": step.pk},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Approved." in html and "Now with Security" in html
    assert f'href="/intake/{second.pk}/"' in html and "Next item" in html


@pytest.mark.django_db
def test_deciding_a_step_someone_else_decided_is_409(client, owner, iam, iam2, make_intake):
    intake = make_intake(owner, "high")
    step = intake.approval.steps.get(order=1)
    svc.approve(iam2, intake, step_id=step.pk)
    client.force_login(iam)
    response = client.post(f"/intake/{intake.pk}/decide/", {"decision": "approve", "step": step.pk})
    assert response.status_code == 409 and "already decided" in response.content.decode()
    htmx = client.post(
        f"/intake/{intake.pk}/decide/", {"decision": "approve", "step": step.pk}, HTTP_HX_REQUEST="true"
    )
    assert htmx.status_code == 409 and 'data-testid="decision-error"' in htmx.content.decode()


@pytest.mark.django_db
def test_discussion_by_htmx(client, owner, iam, auditor, make_intake):
    intake = make_intake(owner, "high")
    client.force_login(iam)
    html = client.post(
        f"/intake/{intake.pk}/comment/", {"body": "Which repositories?"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Which repositories?" in html and "<html" not in html
    client.force_login(auditor)
    page = client.get(f"/intake/{intake.pk}/").content.decode()
    assert "Which repositories?" in page and 'name="body"' not in page


@pytest.mark.django_db
def test_others_cannot_see_someone_elses_request(client, owner, owner2, make_intake):
    intake = make_intake(owner, "high")
    client.force_login(owner2)
    assert client.get(f"/intake/{intake.pk}/").status_code == 404


@pytest.mark.django_db
def test_edit_and_resubmit_after_changes_requested(client, owner, owner2, iam, team, make_intake):
    intake = make_intake(owner, "medium")
    svc.request_changes(iam, intake, comment="Name the repository.")
    client.force_login(owner)
    assert client.get(f"/intake/{intake.pk}/edit/").status_code == 200
    data = form_data(team, name=intake.name, environments=["staging"])
    data["grants-0-actions"] = ["read_code", "open_pr"]
    assert client.post(f"/intake/{intake.pk}/edit/", data).status_code == 302
    intake.refresh_from_db()
    assert intake.state == "submitted" and intake.approval.round == 2
    client.force_login(iam)
    assert client.get(f"/intake/{intake.pk}/edit/").status_code == 403


@pytest.mark.django_db
def test_inbox_lists_pending_work_oldest_first_with_filters(
    client, owner, owner2, iam, other_team, make_intake
):
    old = make_intake(owner, "high")
    new = make_intake(owner2, "medium", team=other_team)
    client.force_login(iam)
    html = client.get("/approvals/").content.decode()
    assert html.index(old.name) < html.index(new.name)
    filtered = client.get("/approvals/?tier=medium", HTTP_HX_REQUEST="true").content.decode()
    assert new.name in filtered and old.name not in filtered and "<html" not in filtered
    by_team = client.get(f"/approvals/?team={other_team.slug}").content.decode()
    assert new.name in by_team and old.name not in by_team
    assert old.name not in client.get("/approvals/?age=3").content.decode()


@pytest.mark.django_db
def test_inbox_for_security_waits_until_iam_approved(client, owner, iam, security, make_intake):
    intake = make_intake(owner, "high")
    client.force_login(security)
    assert intake.name not in client.get("/approvals/").content.decode()
    assert intake.name in client.get("/approvals/?scope=all").content.decode()
    svc.approve(iam, intake)
    assert intake.name in client.get("/approvals/").content.decode()


@pytest.mark.django_db
def test_inbox_redirects_owners_to_my_requests(client, owner):
    client.force_login(owner)
    response = client.get("/approvals/")
    assert response.status_code == 302 and response["Location"] == "/intake/"


@pytest.mark.django_db
def test_my_requests_shows_state_and_who_holds_it(client, owner, iam, make_intake):
    submitted = make_intake(owner, "high")
    draft = make_intake(owner, "medium", submit=False)
    client.force_login(owner)
    html = client.get("/intake/").content.decode()
    assert submitted.name in html and draft.name in html
    assert "IAM (step 1 of 2)" in html and "you (draft)" in html
    svc.approve(iam, submitted)
    assert "Security (step 2 of 2)" in client.get("/intake/").content.decode()


def _count(client, url):
    client.get(url)  # warm up per-session caches
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/approvals/", "/approvals/?scope=all", "/intake/"])
def test_lists_run_the_same_number_of_queries_for_few_and_many_rows(client, owner, iam, make_intake, url):
    requester = owner if url == "/intake/" else None
    for _ in range(2):
        make_intake(requester or UserFactory(roles=["Tool owner"]), "high")
    client.force_login(iam if requester is None else owner)
    few = _count(client, url)
    for _ in range(15):
        make_intake(requester or UserFactory(roles=["Tool owner"]), "high")
    assert _count(client, url) == few


@pytest.mark.django_db
def test_after_a_decision_without_javascript_the_page_offers_the_next_item(
    client, owner, owner2, iam, make_intake
):
    first = make_intake(owner, "high")
    second = make_intake(owner2, "medium")
    client.force_login(iam)
    response = client.post(f"/intake/{first.pk}/decide/", {"decision": "approve"}, follow=True)
    html = response.content.decode()
    assert "Approved." in html
    assert f'href="/intake/{second.pk}/"' in html and "Next waiting for you" in html


@pytest.mark.django_db
def test_the_request_page_buttons_submit_raise_the_tier_and_withdraw(client, owner, iam, make_intake):
    """The request page's buttons post to intake/<pk>/submit/, raise-tier/ and withdraw/: each acts,
    comes back to the page with its message, and a move the state no longer allows is a 409."""
    intake = make_intake(owner, tier="medium", submit=False)
    page = f"/intake/{intake.pk}/"
    client.force_login(owner)
    response = client.post(f"{page}submit/", {"comment": "ready"}, follow=True)
    assert response.redirect_chain[-1][0].endswith(page)
    assert "Submitted for approval." in response.content.decode()
    intake.refresh_from_db()
    assert intake.state == "submitted"

    client.force_login(iam)
    response = client.post(
        f"{page}raise-tier/", {"risk_tier": "critical", "reason": "prod secrets"}, follow=True
    )
    assert "Risk tier raised; the route now follows the new tier." in response.content.decode()
    intake.refresh_from_db()
    assert intake.risk_tier == "critical"

    client.force_login(owner)
    response = client.post(f"{page}withdraw/", {"reason": "not needed"}, follow=True)
    assert "Withdrawn." in response.content.decode()
    intake.refresh_from_db()
    assert intake.state == "withdrawn"
    assert client.post(f"{page}withdraw/", {"reason": "again"}).status_code == 409
    assert client.post(f"{page}submit/").status_code == 409
