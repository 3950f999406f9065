"""The identity page tells its whole story in one timeline, each entry linked to where it happened."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.flows import reactivation, scope
from approvals.models import ApprovalRequest
from approvals.services import engine
from approvals.services import intake as intake_services
from governance.findings.sweep import run_sweep
from governance.reviews.models import ReviewItem
from governance.reviews.services.decisions import decide
from governance.reviews.services.launch import launch_campaign
from inventory import ownership, services, timeline
from inventory.usage import ingest_usage
from tests.approvals.conftest import answers
from tests.factories import IdentityFactory
from tests.governance.exceptions_support import request as request_exception

pytestmark = pytest.mark.django_db


@pytest.fixture
def storied(owner, owner2, iam, security, team):
    """An identity that went through intake, a transfer, a scope change, an exception, a finding, a
    review, a suspension and a reactivation request."""
    intake = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("low"), "team": team})
    )
    intake_services.approve(iam, intake, comment="fine for docs")
    intake.refresh_from_db()
    identity = intake.identity
    transfer = ownership.propose_transfer(owner, [identity], owner2, "moving teams")[0]
    ownership.accept_transfer(owner2, transfer)
    identity.refresh_from_db()
    change = scope.request_scope_change(
        owner2,
        identity,
        add=[{"resource_kind": "repository", "resource_name": "org/docs", "actions": ["open_pr"]}],
        reason="propose doc fixes",
    )
    engine.approve(iam, ApprovalRequest.objects.get(kind="scope_change", object_id=change.pk))
    exception = request_exception(owner2, identity, rule="credential_rotation_overdue")
    ingest_usage(iam, [{"identity": identity.pk, "at": timezone.now().isoformat(), "action": "read_secrets"}])
    run_sweep()
    campaign = launch_campaign(iam, "Q1", {}, timezone.now() + timedelta(days=14))
    decide(owner2, ReviewItem.objects.get(campaign=campaign, identity=identity), "certify", "still needed")
    services.suspend(iam, identity, "read secrets outside its grants")
    reactivation.request_reactivation(owner2, identity, "secrets access removed")
    return {"identity": identity, "intake": intake, "change": change, "exception": exception}


def test_the_timeline_gathers_every_part_of_the_story(storied):
    identity = storied["identity"]
    events = timeline.describe(timeline.timeline_events(identity), identity)
    verbs = {e.verb for e in events}
    assert {
        "intake.submitted",
        "approval.approved",
        "identity.created",
        "identity.transfer_proposed",
        "identity.owner_transferred",
        "identity.scope_change_requested",
        "identity.scope_changed",
        "exception.requested",
        "finding.opened",
        "review.certify",
        "identity.suspended",
        "identity.reactivation_requested",
    } <= verbs, verbs
    categories = {str(e.category) for e in events}
    assert {"intake", "approval", "transfer", "scope change", "exception", "finding", "review"} <= categories
    assert {"suspension", "reactivation"} <= categories
    # Newest first, as the audit chain ordered them.
    assert [e.seq for e in events] == sorted((e.seq for e in events), reverse=True)


def test_each_entry_links_to_where_it_happened(storied):
    identity, intake, change = storied["identity"], storied["intake"], storied["change"]
    links = {e.verb: e.link for e in timeline.describe(timeline.timeline_events(identity), identity)}
    assert links["intake.submitted"] == f"/intake/{intake.pk}/"
    assert links["approval.approved"].startswith("/approvals/")
    assert links["identity.owner_transferred"] == "/inventory/transfers/"
    assert links["identity.scope_changed"] == f"/inventory/scope-changes/{change.pk}/"
    assert links["exception.requested"] == f"/exceptions/{storied['exception'].pk}/"
    assert links["finding.opened"] == f"/findings/?identity={identity.pk}&status="
    assert links["review.certify"].startswith("/reviews/items/")
    assert links["identity.reactivation_requested"].startswith("/inventory/reactivations/")
    assert links["identity.suspended"] == ""  # it happened on this page


def test_another_identitys_story_stays_out(storied, owner, iam):
    other = IdentityFactory(owner=owner)
    services.suspend(iam, other, "other one")
    verbs = [e.verb for e in timeline.timeline_events(other)]
    assert verbs == ["identity.suspended"]
    ids = {
        e.subject_id
        for e in timeline.timeline_events(storied["identity"])
        if e.subject_type == "inventory.identity"
    }
    assert ids == {str(storied["identity"].pk)}


def test_the_identity_page_shows_the_timeline_with_links(client, auditor, storied):
    identity = storied["identity"]
    client.force_login(auditor)
    html = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert "Timeline" in html and 'data-testid="history"' in html
    assert 'data-testid="timeline-link"' in html
    assert 'href="/inventory/reactivations/' in html
    older = client.get(f"/inventory/{identity.pk}/?history_page=2", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in older and f'href="/intake/{storied["intake"].pk}/"' in older


def test_the_timeline_query_count_does_not_grow_with_the_story(
    storied, owner, iam, django_assert_num_queries
):
    identity = storied["identity"]
    with django_assert_num_queries(1):
        list(timeline.timeline_events(identity)[:20])
    for n in range(5):
        services.reactivate(iam, identity, f"r{n}") if n % 2 == 0 else services.suspend(
            iam, identity, f"s{n}"
        )
    with django_assert_num_queries(1):
        list(timeline.timeline_events(identity)[:20])


def test_the_timeline_over_the_api(api_as, auditor, storied):
    identity = storied["identity"]
    response = api_as(auditor).get(f"/api/v1/identities/{identity.pk}/timeline/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= 12 and body["results"][0]["seq"] > body["results"][-1]["seq"]
    assert {"identity.reactivation_requested", "review.certify"} <= {r["verb"] for r in body["results"]}
    assert api_as(auditor).get("/api/v1/identities/999999/timeline/").status_code == 404
