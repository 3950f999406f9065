"""REST API for review campaigns and items: contract fields, filters, actions, permission matrix."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.services import decide, launch_campaign
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory, UserFactory


@pytest.fixture
def estate(owner, owner2):
    high = IdentityFactory(owner=owner, name="prod-agent", risk_tier="high")
    GrantFactory(identity=high, resource_name="org/a", actions=["read_code"])
    GrantFactory(identity=high, resource_name="org/b", actions=["merge"])
    CredentialFactory(identity=high)
    IdentityFactory(owner=owner2, name="helper", risk_tier="low")
    return high


@pytest.fixture
def campaign(iam, estate):
    return launch_campaign(iam, "Q1", {}, "2099-01-31")


@pytest.mark.django_db
def test_iam_creates_a_campaign_and_gets_count_hash_and_progress(api_as, iam, estate):
    response = api_as(iam).post(
        "/api/v1/review-campaigns/",
        {
            "name": "High Q1",
            "scope": {"risk_tiers": ["high"], "kinds": [], "teams": []},
            "due_at": "2099-03-31",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["population_count"] == 1 and len(body["population_sha256"]) == 64
    assert body["progress"]["total"] == 1 and body["progress"]["pending"] == 1
    assert body["state"] == "open" and body["scope"]["risk_tiers"] == ["high"]
    assert body["due_at"].startswith("2099-03-31")


@pytest.mark.django_db
def test_campaign_create_bad_input_is_400_per_field(api_as, iam, estate):
    response = api_as(iam).post(
        "/api/v1/review-campaigns/",
        {"name": "", "scope": {"risk_tiers": ["huge"]}, "due_at": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert {"name", "scope", "due_at"} <= set(response.json())
    assert not ReviewCampaign.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status",
    [("iam", 201), ("security", 403), ("owner", 403), ("auditor", 403), ("outsider", 403)],
)
def test_who_may_create_campaigns(api_as, role_users, estate, username, status):
    response = api_as(role_users[username]).post(
        "/api/v1/review-campaigns/", {"name": "x", "due_at": "2099-01-01"}, format="json"
    )
    assert response.status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status",
    [("iam", 200), ("security", 200), ("auditor", 200), ("owner", 403), ("outsider", 403), (None, 401)],
)
def test_who_may_read_campaigns(api_as, role_users, campaign, username, status):
    client = api_as(role_users[username] if username else None)
    assert client.get("/api/v1/review-campaigns/").status_code == status


@pytest.mark.django_db
def test_items_are_filtered_and_owners_see_only_theirs(api_as, owner, iam, campaign):
    body = api_as(iam).get("/api/v1/review-items/", {"campaign": campaign.pk}).json()
    assert body["count"] == 2
    mine = api_as(iam).get("/api/v1/review-items/", {"reviewer": "owner"}).json()["results"]
    assert [i["identity_name"] for i in mine] == ["prod-agent"]
    assert mine[0]["reviewer"] == "owner" and mine[0]["decision"] == "pending"
    assert api_as(owner).get("/api/v1/review-items/").json()["count"] == 1
    assert api_as(iam).get("/api/v1/review-items/", {"decision": "certify"}).json()["count"] == 0


@pytest.mark.django_db
def test_item_detail_includes_the_frozen_snapshot(api_as, owner, campaign, estate):
    item = campaign.items.get(identity=estate)
    body = api_as(owner).get(f"/api/v1/review-items/{item.pk}/").json()
    assert body["snapshot"]["name"] == "prod-agent" and len(body["snapshot"]["grants"]) == 2


@pytest.mark.django_db
def test_decide_modify_through_the_api(api_as, owner, campaign, estate):
    item = campaign.items.get(identity=estate)
    merge = estate.grants.get(resource_name="org/b")
    client = api_as(owner)
    bad = client.post(f"/api/v1/review-items/{item.pk}/decide/", {"decision": "modify"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    response = client.post(
        f"/api/v1/review-items/{item.pk}/decide/",
        {"decision": "modify", "reason": "merge unused", "grants": [merge.pk]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["decision"] == "modify" and body["removed_grants"] == [merge.pk]
    assert body["signoff_state"] == "pending"  # high tier


@pytest.mark.django_db
def test_bad_decision_value_is_400(api_as, owner, campaign, estate):
    item = campaign.items.get(identity=estate)
    response = api_as(owner).post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "keep"}, format="json"
    )
    assert response.status_code == 400 and "decision" in response.json()


@pytest.mark.django_db
def test_closed_campaign_refuses_decisions_with_409(api_as, owner, iam, campaign, estate):
    item = campaign.items.get(identity=estate)
    assert api_as(iam).post(f"/api/v1/review-campaigns/{campaign.pk}/close/").status_code == 200
    response = api_as(owner).post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify"}, format="json"
    )
    assert response.status_code == 409
    assert ReviewItem.objects.get(pk=item.pk).decision == "not_reviewed"
    assert api_as(iam).post(f"/api/v1/review-campaigns/{campaign.pk}/close/").status_code == 409


@pytest.mark.django_db
def test_owner_cannot_sign_off_their_own_high_tier_identity_403(api_as, iam, iam2, estate):
    own = IdentityFactory(owner=iam2, name="iam2-agent", risk_tier="high")
    campaign = launch_campaign(iam, "Own", {"risk_tiers": ["high"]}, "2099-01-31")
    item = campaign.items.get(identity=own)
    refused = api_as(iam).post(f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify"})
    assert refused.status_code == 400 and "reason" in refused.json()  # high tier: say what was checked
    decided = api_as(iam).post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify", "reason": "grants checked"}
    )
    assert decided.status_code == 200 and decided.json()["signoff_state"] == "pending"
    response = api_as(iam2).post(f"/api/v1/review-items/{item.pk}/sign-off/", {}, format="json")
    assert response.status_code == 403  # iam2 is an IAM approver, but owns this identity
    assert "own" in response.json()["detail"]
    other = campaign.items.get(identity=estate)
    decide(estate.owner, other, "certify", "still runs the nightly build")
    assert api_as(estate.owner).post(f"/api/v1/review-items/{other.pk}/sign-off/").status_code == 403
    ok = api_as(iam2).post(f"/api/v1/review-items/{other.pk}/sign-off/", {"note": "checked"}, format="json")
    assert ok.status_code == 200 and ok.json()["signoff_by"] == "iam2"


@pytest.mark.django_db
def test_revoke_then_confirm_remediation_through_the_api(api_as, owner, iam, campaign, estate):
    item = campaign.items.get(identity=estate)
    client = api_as(owner)
    response = client.post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "revoke", "reason": "unused"}, format="json"
    )
    body = response.json()
    assert body["remediation_state"] == "pending" and body["remediation_action_at"]
    assert body["decided_via"] == "api"
    assert Identity.objects.get(pk=estate.pk).status == "suspended"
    # The decider (the owner) cannot confirm their own revoke; IAM can, and must give a note.
    own = client.post(f"/api/v1/review-items/{item.pk}/confirm-remediation/", {"note": "done"}, format="json")
    assert own.status_code == 403
    iam_client = api_as(iam)
    assert iam_client.post(f"/api/v1/review-items/{item.pk}/confirm-remediation/", {}).status_code == 400
    done = iam_client.post(
        f"/api/v1/review-items/{item.pk}/confirm-remediation/", {"note": "INC-42 rotated"}, format="json"
    )
    assert done.status_code == 200 and done.json()["remediation_state"] == "confirmed"
    assert done.json()["remediation_confirmed_by"] == "iam"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status", [("owner", 200), ("iam", 200), ("owner2", 403), ("auditor", 403), ("security", 403)]
)
def test_decide_permission_matrix(api_as, role_users, campaign, estate, username, status):
    item = campaign.items.get(identity=estate)
    response = api_as(role_users[username]).post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify", "reason": "ok"}, format="json"
    )
    assert response.status_code == status


@pytest.mark.django_db
def test_reassign_and_remind_are_iam_only(api_as, iam, owner, campaign, estate):
    item = campaign.items.get(identity=estate)
    assert (
        api_as(owner).post(f"/api/v1/review-items/{item.pk}/reassign/", {"reviewer": "iam"}).status_code
        == 403
    )
    moved = api_as(iam).post(f"/api/v1/review-items/{item.pk}/reassign/", {"reviewer": "iam"}, format="json")
    assert moved.status_code == 200 and moved.json()["reviewer"] == "iam"
    assert api_as(owner).post(f"/api/v1/review-campaigns/{campaign.pk}/remind/").status_code == 403
    assert api_as(iam).post(f"/api/v1/review-campaigns/{campaign.pk}/remind/").json()["sent"] == 2


@pytest.mark.django_db
def test_verify_recomputes_the_population_hash(api_as, auditor, campaign):
    body = api_as(auditor).get(f"/api/v1/review-campaigns/{campaign.pk}/verify/").json()
    assert body["ok"] and body["sha256"] == campaign.population_sha256


@pytest.mark.django_db
def test_read_token_cannot_decide_write_token_can(api, owner, campaign, estate):
    item = campaign.items.get(identity=estate)
    _, read = issue_token(owner, owner, scope="read")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    assert api.post(f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify"}).status_code == 403
    _, write = issue_token(owner, owner, scope="write")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {write}")
    response = api.post(
        f"/api/v1/review-items/{item.pk}/decide/", {"decision": "certify", "reason": "in use"}, format="json"
    )
    assert response.status_code == 200 and response.json()["decided_by"].startswith("token:")


@pytest.mark.django_db
def test_lists_run_a_fixed_number_of_queries(api_as, iam):
    def count_for(n: int, tag: str) -> tuple[int, int]:
        for i in range(n):
            IdentityFactory(owner=UserFactory(username=f"{tag}{i}"), name=f"{tag}-{i}")
        launch_campaign(iam, tag, {}, "2099-01-31")
        client = api_as(iam)
        with CaptureQueriesContext(connection) as items:
            assert client.get("/api/v1/review-items/").status_code == 200
        with CaptureQueriesContext(connection) as campaigns:
            assert client.get("/api/v1/review-campaigns/").status_code == 200
        ReviewItem.objects.update(in_open_campaign=False)
        return len(items), len(campaigns)

    assert count_for(3, "a") == count_for(30, "b")
