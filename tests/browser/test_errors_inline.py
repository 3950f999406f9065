"""Errors where the eye is (issue 22 item 2): a refused decision says why beside the form, keeps what
was typed, and a lost race shows the panel as it is now with who decided. One htmx-config on a page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from approvals.services import intake as intake_services
from governance.exceptions import services as exception_services
from governance.people.models import Role
from tests.approvals.conftest import answers
from tests.factories import IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def submitted_intake(role_users, team):
    data = answers("high", name="checkout-helper")
    data["team"] = team
    owner = role_users["owner"]
    return intake_services.submit(owner, intake_services.create_draft(owner, data))


def _next_sibling_testid(page, selector: str) -> str:
    return page.evaluate(f"document.querySelector('{selector}').nextElementSibling.dataset.testid")


def test_the_page_has_one_htmx_config(page, live_server, login, role_users, submitted_intake):
    login(page, "iam")
    page.goto(f"{live_server.url}/intake/{submitted_intake.pk}/")
    assert page.locator("meta[name=htmx-config]").count() == 1
    config = page.locator("meta[name=htmx-config]").get_attribute("content")
    assert '"(400|403|409)","swap":true' in config


def test_a_missing_comment_is_refused_beside_the_comment_box(
    page, live_server, login, role_users, submitted_intake
):
    login(page, "iam")
    page.goto(f"{live_server.url}/intake/{submitted_intake.pk}/")
    panel = page.get_by_test_id("decision-panel")
    panel.get_by_role("button", name="Reject").click()
    error = panel.get_by_test_id("comment-error")
    expect(error).to_have_text("Say why, so the requester knows what to do next.")
    # Right under the box it is about, which is marked invalid; no generic "please retry".
    assert _next_sibling_testid(page, "#decision-comment") == "comment-error"
    expect(page.locator("#decision-comment")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Please retry")).to_have_count(0)
    # The panel still works: with a reason the rejection goes through.
    page.locator("#decision-comment").fill("Merge rights are not needed for dependency updates.")
    panel.get_by_role("button", name="Reject").click()
    expect(panel.get_by_test_id("decision-result")).to_contain_text("Rejected")


def test_a_lost_race_shows_who_decided_and_keeps_the_comment(
    page, second_page, live_server, login, role_users, submitted_intake
):
    url = f"{live_server.url}/intake/{submitted_intake.pk}/"
    login(page, "iam")
    page.goto(url)
    login(second_page, "iam2")
    second_page.goto(url)
    # iam decides first; iam2's page still shows the buttons it loaded.
    page.locator("#decision-comment").fill("Scope checked with the platform team.")
    page.get_by_test_id("decision-panel").get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("decision-result")).to_contain_text("Approved")

    panel = second_page.get_by_test_id("decision-panel")
    second_page.locator("#decision-comment").fill("Fine by me as well.")
    panel.get_by_role("button", name="Approve").click()
    expect(panel.get_by_test_id("decision-error")).to_contain_text("already decided")
    decided_by = panel.get_by_test_id("decided-by")
    expect(decided_by).to_contain_text(f"Approved by {role_users['iam']} (iam)")
    expect(decided_by).to_contain_text("Scope checked with the platform team.")
    expect(panel.get_by_test_id("unsaved-comment")).to_contain_text("Fine by me as well.")
    # No stale buttons: the panel is the request as it is now, waiting for Security.
    expect(panel.get_by_role("button", name="Approve")).to_have_count(0)
    expect(panel.get_by_test_id("cannot-decide")).to_contain_text("Security")
    expect(second_page.get_by_test_id("steps-round-1")).to_contain_text(
        f"approved by {role_users['iam']} (iam)"
    )


def test_a_server_failure_is_shown_beside_the_form_and_the_text_stays(
    page, live_server, login, role_users, submitted_intake
):
    login(page, "iam")
    page.goto(f"{live_server.url}/intake/{submitted_intake.pk}/")
    page.route("**/decide/", lambda route: route.fulfill(status=500, body="<html><body>boom</body></html>"))
    page.locator("#decision-comment").fill("Checked the scope.")
    page.get_by_test_id("decision-panel").get_by_role("button", name="Approve").click()
    inline = page.get_by_test_id("decision-panel").get_by_test_id("inline-error")
    expect(inline).to_contain_text("Something went wrong on the server (500)")
    expect(page.locator("#decision-comment")).to_have_value("Checked the scope.")
    expect(page.get_by_role("button", name="Approve")).to_be_enabled()


def test_exception_decisions_refuse_beside_the_form_and_show_who_won_the_race(
    page, second_page, live_server, login, role_users, team
):
    security2 = UserFactory(username="security2", roles=[Role.SECURITY], team=team)
    bot = IdentityFactory(owner=role_users["owner"], name="legacy-deploy-bot")
    exc = exception_services.request_exception(
        role_users["owner"],
        identity=bot,
        rule="credential_rotation_overdue",
        justification="The vendor's bot cannot use OIDC until its next release.",
        expires_at=timezone.localdate() + timedelta(days=30),
    )
    url = f"{live_server.url}/exceptions/{exc.pk}/"
    login(page, "security")
    page.goto(url)
    login(second_page, "security2")
    second_page.goto(url)

    form = page.get_by_test_id("decide-form")
    form.get_by_role("button", name="Reject").click()
    # The page again with the reason beside the box (not a redirect with a banner at the top).
    expect(page.get_by_test_id("comment-error")).to_contain_text("Say why")
    assert _next_sibling_testid(page, "#decide-comment") == "comment-error"
    page.locator("#decide-comment").fill("Compensating controls checked.")
    page.get_by_test_id("decide-form").get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("exception-state")).to_have_text("active")

    second_page.locator("#decide-comment").fill("Too long; 14 days at most.")
    second_page.get_by_test_id("decide-form").get_by_role("button", name="Reject").click()
    expect(second_page.get_by_test_id("decision-error")).to_be_visible()
    expect(second_page.get_by_test_id("decided-by")).to_contain_text(f"Approved by {role_users['security']}")
    expect(second_page.get_by_test_id("unsaved-comment")).to_contain_text("Too long; 14 days at most.")
    expect(second_page.get_by_test_id("decide-form")).to_have_count(0)
    assert security2.pk  # the second Security admin lost the race; nothing was recorded for them
    assert not exc.approval.steps.filter(decided_by=security2).exists()


def test_jit_decisions_show_who_decided_after_a_lost_race(
    page, second_page, live_server, login, role_users, release_agent_request
):
    ar = release_agent_request
    url = f"{live_server.url}/access-requests/{ar.pk}/"
    login(page, "iam")
    page.goto(url)
    login(second_page, "iam2")
    second_page.goto(url)
    page.get_by_test_id("decide-form").get_by_role("button", name="Reject").click()
    expect(page.get_by_test_id("comment-error")).to_be_visible()
    page.locator("#decide-comment").fill("Release window agreed")
    page.get_by_test_id("decide-form").get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("ar-state")).to_have_text("approved")

    second_page.locator("#decide-comment").fill("Not during the freeze.")
    second_page.get_by_test_id("decide-form").get_by_role("button", name="Reject").click()
    expect(second_page.get_by_test_id("decided-by")).to_contain_text(f"Approved by {role_users['iam']} (iam)")
    expect(second_page.get_by_test_id("unsaved-comment")).to_contain_text("Not during the freeze.")
    expect(second_page.get_by_test_id("ar-state")).to_have_text("approved")
