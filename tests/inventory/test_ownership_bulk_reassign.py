"""IAM/Security reassign owners in bulk from the filtered inventory list: the ticked rows or all N
matching the filters, with a reason, through `ownership.reassign_owner`; nobody else may."""

import pytest

from governance.models import AuditEvent
from inventory.models import Identity
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(owner, owner2):
    return {
        "prod-a": IdentityFactory(name="prod-a", owner=owner, environments=["prod"]),
        "prod-b": IdentityFactory(name="prod-b", owner=owner, environments=["prod"]),
        "prod-gone": IdentityFactory(
            name="prod-gone", owner=owner, environments=["prod"], status="decommissioned"
        ),
        "dev-a": IdentityFactory(name="dev-a", owner=owner, environments=["dev"]),
    }


def owners():
    return dict(Identity.objects.values_list("name", "owner__username"))


def reassign_all_in_prod(client, reason: str):
    """Post the bulk form for all 3 identities the page showed matching environment=prod, to owner2."""
    form = {"scope": "all", "expected": "3", "filters": "environment=prod", "new_owner": "owner2"}
    return client.post("/inventory/reassign/", {**form, "reason": reason})


def test_iam_sees_the_bulk_form_with_the_matching_count(client, iam, estate):
    client.force_login(iam)
    page = client.get("/inventory/?environment=prod").content.decode()
    assert 'data-testid="bulk-reassign"' in page
    assert "all 3 matching these filters" in page
    assert 'name="filters" value="environment=prod"' in page
    assert f'value="{estate["prod-a"].pk}" form="bulk-reassign"' in page
    assert f'value="{estate["prod-gone"].pk}" form="bulk-reassign"' not in page  # keeps its owner


@pytest.mark.parametrize("username", ["owner", "auditor"])
def test_others_see_no_bulk_form(client, role_users, estate, username):
    client.force_login(role_users[username])
    assert 'data-testid="bulk-reassign"' not in client.get("/inventory/?mine=false").content.decode()


def test_iam_reassigns_the_ticked_rows_with_a_reason(client, iam, owner2, estate):
    client.force_login(iam)
    response = client.post(
        "/inventory/reassign/",
        {
            "scope": "selected",
            "identities": [estate["prod-a"].pk, estate["dev-a"].pk],
            "new_owner": "owner2",
            "reason": "platform team reorganised",
            "filters": "environment=prod",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/inventory/?environment=prod"
    assert owners() == {"prod-a": "owner2", "prod-b": "owner", "prod-gone": "owner", "dev-a": "owner2"}
    events = AuditEvent.objects.filter(verb="identity.owner_reassigned")
    assert events.count() == 2
    assert {e.actor for e in events} == {"iam"} and {e.reason for e in events} == {
        "platform team reorganised"
    }
    assert "2 identities reassigned to owner2" in client.get(response["Location"]).content.decode()


def test_iam_reassigns_all_matching_the_filters_and_nothing_else(client, security, owner2, estate):
    client.force_login(security)
    response = reassign_all_in_prod(client, "moved")
    assert response.status_code == 302
    assert owners() == {"prod-a": "owner2", "prod-b": "owner2", "prod-gone": "owner", "dev-a": "owner"}


def test_all_matching_is_refused_when_the_filters_now_match_a_different_set(client, iam, owner2, estate):
    client.force_login(iam)
    IdentityFactory(name="prod-new", environments=["prod"])  # appeared after the page was shown
    response = reassign_all_in_prod(client, "moved")
    assert response.status_code == 400
    assert "now match a different set" in response.content.decode()
    assert "owner2" not in owners().values()
    assert not AuditEvent.objects.filter(verb="identity.owner_reassigned").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"new_owner": "owner2", "reason": ""}, "Give a reason"),
        ({"new_owner": "nobody", "reason": "moved"}, "Give the username of an active person"),
    ],
)
def test_bad_input_re_renders_the_list_and_changes_nothing(client, iam, owner2, estate, data, message):
    client.force_login(iam)
    response = client.post("/inventory/reassign/", {"identities": [estate["prod-a"].pk], **data})
    assert response.status_code == 400 and message in response.content.decode()
    assert owners()["prod-a"] == "owner"
    ticked, other = estate["prod-a"].pk, estate["dev-a"].pk  # the page keeps what was ticked
    assert f'value="{ticked}" form="bulk-reassign" aria-labelledby="identity-name-{ticked}" checked>' in (
        response.content.decode()
    )
    assert f'aria-labelledby="identity-name-{other}">' in response.content.decode()


def test_nothing_ticked_is_explained(client, iam, owner2, estate):
    client.force_login(iam)
    response = client.post("/inventory/reassign/", {"new_owner": "owner2", "reason": "moved"})
    assert response.status_code == 400 and "Tick the identities" in response.content.decode()


@pytest.mark.parametrize("username", ["owner", "owner2", "auditor", "outsider"])
def test_non_iam_get_403_and_nothing_changes(client, role_users, estate, username):
    client.force_login(role_users[username])
    response = reassign_all_in_prod(client, "mine now")
    assert response.status_code == 403
    assert set(owners().values()) == {"owner"}
