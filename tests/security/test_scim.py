"""SCIM 2.0 provisioning at /scim/v2/: what Entra ID and Okta send, what it does to people, sessions,
identities and roles, who may call it, and that odd input is a SCIM error, never a 500.

The protocol compliance run (scim2-tester against a live server) is in test_scim_tester.py.
"""

from __future__ import annotations

import io
import json
from importlib import import_module

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from governance.actors import system
from governance.models import AuditEvent
from governance.people.models import ApiToken, Role, ScimGroup, SignedInSession, User
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.factories import IdentityFactory, UserFactory
from tests.security.matrix_support import PARAM, steward_routes

pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ROLE_MAP = "steward-iam=IAM approver,steward-security=Security admin,8f1c-entra-object-id=Auditor"


@pytest.fixture
def token():
    out = io.StringIO()
    call_command("issue_scim_token", "--days", "1", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture
def scim(token):
    client = Client()

    def call(method, path, body=None, *, bearer=token, raw=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
        if body is not None or raw is not None:
            kwargs["data"] = raw if raw is not None else json.dumps(body)
            kwargs["content_type"] = "application/scim+json"
        return getattr(client, method.lower())(f"/scim/v2/{path}", **kwargs)

    return call


def patch(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def new_user(scim, username, **extra):
    body = {"schemas": [USER], "userName": username, "active": True, **extra}
    response = scim("POST", "Users", body)
    assert response.status_code == 201, response.content
    return response.json()


def new_group(scim, name, members=(), **extra):
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members], **extra}
    response = scim("POST", "Groups", body)
    assert response.status_code == 201, response.content
    return response.json()


def roles_of(username):
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_an_entra_style_patch_active_false_deactivates_ends_sessions_and_rehomes_in_one_request(
    scim, owner2, django_capture_on_commit_callbacks
):
    created = new_user(scim, "dana@contoso.com", externalId="0a1b-entra-oid", displayName="Dana")
    dana = User.objects.get(pk=created["id"])
    browser = Client()
    browser.force_login(dana)
    session_key = SignedInSession.objects.get(user=dana).session_key
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert store().exists(session_key)
    backed_up = IdentityFactory(owner=dana, backup_owner=owner2, name="dana-backed-up")
    alone = IdentityFactory(owner=dana, name="dana-alone")

    with django_capture_on_commit_callbacks(execute=True):
        response = scim(
            "PATCH", f"Users/{dana.pk}", patch({"op": "Replace", "path": "active", "value": "False"})
        )

    assert response.status_code in (200, 204), response.content
    dana.refresh_from_db()
    assert not dana.is_active
    assert not SignedInSession.objects.filter(user=dana).exists()
    assert not store().exists(session_key)
    assert browser.get("/").status_code == 302  # sent back to sign in
    backed_up.refresh_from_db()
    alone.refresh_from_db()
    assert backed_up.owner == owner2
    assert alone.owner is None  # orphan queue, for IAM to reassign
    event = AuditEvent.objects.get(verb="user.deactivated", subject_id=str(dana.pk))
    assert event.actor == "system:scim" and "active to false" in event.reason
    assert scim("GET", f"Users/{dana.pk}").json()["active"] is False  # still served, as inactive


def test_active_true_reactivates_and_it_is_audited(scim):
    user = new_user(scim, "erin", active=False)
    assert not User.objects.get(pk=user["id"]).is_active
    response = scim("PATCH", f"Users/{user['id']}", patch({"op": "replace", "value": {"active": True}}))
    assert response.status_code in (200, 204)
    assert User.objects.get(pk=user["id"]).is_active
    assert AuditEvent.objects.filter(verb="user.reactivated", actor="system:scim").count() == 1


def test_entra_and_okta_patch_dialects(scim):
    user = new_user(
        scim,
        "frank@contoso.com",
        name={"givenName": "Frank", "familyName": "Old"},
        emails=[{"value": "frank@old.example", "type": "work", "primary": True}],
    )
    path = f"Users/{user['id']}"
    response = scim(
        "PATCH",
        path,
        patch(
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "frank@contoso.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Franklin"},
            {"op": "Add", "path": "name.familyName", "value": "New"},
            {"op": "Replace", "value": {"displayName": "Franklin New", "active": "True"}},
            {"op": "Add", "path": "title", "value": "Engineer"},  # not kept by Steward: dropped
            {
                "op": "Replace",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "R&D",
            },
        ),
    )
    assert response.status_code in (200, 204), response.content
    frank = User.objects.get(pk=user["id"])
    assert (frank.email, frank.first_name, frank.last_name, frank.display_name) == (
        "frank@contoso.com",
        "Franklin",
        "New",
        "Franklin New",
    )
    served = scim("GET", path).json()
    assert served["emails"] == [{"value": "frank@contoso.com", "type": "work", "primary": True}]
    assert "title" not in served
    # A user with no work e-mail yet: Entra's filtered path creates the entry.
    bare = new_user(scim, "gina")
    scim(
        "PATCH",
        f"Users/{bare['id']}",
        patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "gina@contoso.com"}),
    )
    assert User.objects.get(pk=bare["id"]).email == "gina@contoso.com"
    # A PUT replaces the whole person (Okta).
    replaced = scim(
        "PUT",
        path,
        {"schemas": [USER], "userName": "frank@contoso.com", "active": True, "name": {"givenName": "F"}},
    )
    assert replaced.status_code == 200, replaced.content
    frank.refresh_from_db()
    assert (frank.first_name, frank.last_name, frank.display_name, frank.email) == ("F", "", "", "")
    assert replaced["Content-Type"] == "application/scim+json"


def test_group_membership_sets_roles_through_the_role_map(scim, settings):
    settings.STEWARD_OIDC_ROLE_MAP = ROLE_MAP
    alice = new_user(scim, "alice")["id"]
    bob = new_user(scim, "bob")["id"]

    group = new_group(scim, "steward-iam", members=[alice])
    assert roles_of("alice") == {Role.IAM} and roles_of("bob") == set()

    path = f"Groups/{group['id']}"
    scim("PATCH", path, patch({"op": "Add", "path": "members", "value": [{"value": bob}]}))
    assert roles_of("bob") == {Role.IAM}
    scim("PATCH", path, patch({"op": "Remove", "path": f'members[value eq "{alice}"]'}))
    assert roles_of("alice") == set() and roles_of("bob") == {Role.IAM}
    # Entra removes a member by value, without a path filter.
    scim("PATCH", path, patch({"op": "Remove", "path": "members", "value": [{"value": bob}]}))
    assert roles_of("bob") == set()

    scim("PATCH", path, patch({"op": "add", "path": "members", "value": [{"value": alice}, {"value": bob}]}))
    scim("PATCH", path, patch({"op": "Replace", "path": "displayName", "value": "steward-security"}))
    assert roles_of("alice") == roles_of("bob") == {Role.SECURITY}
    scim("PATCH", path, patch({"op": "Replace", "path": "displayName", "value": "unmapped"}))
    assert roles_of("alice") == set()
    # An Entra group is often mapped by its object id, sent as externalId.
    auditors = new_group(scim, "Auditors", members=[bob], externalId="8f1c-entra-object-id")
    assert roles_of("bob") == {Role.AUDITOR}
    assert scim("DELETE", f"Groups/{auditors['id']}").status_code == 204
    assert roles_of("bob") == set()
    assert scim("GET", f"Groups/{auditors['id']}").status_code == 404

    changes = AuditEvent.objects.filter(verb="user.roles_changed")
    assert changes.count() >= 6 and set(changes.values_list("actor", flat=True)) == {"system:scim"}
    served = scim("GET", f"Users/{alice}").json()
    assert [g["display"] for g in served["groups"]] == ["unmapped"]


def test_a_member_must_be_a_scim_user(scim, owner):
    response = scim(
        "POST", "Groups", {"schemas": [GROUP], "displayName": "g", "members": [{"value": str(owner.pk)}]}
    )
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    assert not ScimGroup.objects.exists()


def test_filters_and_pagination(scim, owner):
    for name in ("hana", "ivan", "jo"):
        new_user(scim, name, externalId=f"ext-{name}")
    found = scim("GET", 'Users?filter=userName eq "IVAN"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "ivan"
    assert scim("GET", 'Users?filter=externalId eq "ext-jo"').json()["Resources"][0]["userName"] == "jo"
    assert scim("GET", 'Users?filter=externalId eq "EXT-JO"').json()["totalResults"] == 0  # caseExact
    # A local account is not SCIM's: never served, not even by name.
    assert scim("GET", f'Users?filter=userName eq "{owner.username}"').json()["totalResults"] == 0
    assert scim("GET", 'Users?filter=userName sw "h" or userName ew "o"').json()["totalResults"] == 2
    page = scim("GET", "Users?startIndex=2&count=1").json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert page["Resources"][0]["userName"] == "ivan"
    counted = scim("GET", "Users?count=0").json()
    assert counted["totalResults"] == 3 and not counted.get("Resources")
    new_group(scim, "team-a")
    assert scim("GET", 'Groups?filter=displayName eq "TEAM-A"').json()["totalResults"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "filter=userName eq",
        "filter=(((",
        'filter=emails.type eq "work"',
        "filter=active gt true",
        'filter=userName eq "x"&sortBy=userName',
    ],
)
def test_a_bad_filter_is_a_scim_400(scim, query):
    response = scim("GET", f"Users?{query}")
    assert response.status_code in (400, 501), response.content
    assert response.json()["schemas"] == [ERROR]
    if response.status_code == 400:
        assert response.json()["scimType"] in ("invalidFilter", "invalidValue", "invalidSyntax")


def test_a_local_username_is_refused_with_409_and_never_adopted(scim):
    carol = UserFactory(username="carol", roles=[Role.IAM])
    for name in ("carol", "Carol"):
        response = scim("POST", "Users", {"schemas": [USER], "userName": name, "active": True})
        assert response.status_code == 409
        body = response.json()
        assert body["schemas"] == [ERROR] and body["scimType"] == "uniqueness" and body["status"] == "409"
    carol.refresh_from_db()
    assert not carol.scim_managed and carol.has_usable_password() and roles_of("carol") == {Role.IAM}
    new_user(scim, "dave", externalId="x-1")
    assert (
        scim(
            "POST", "Users", {"schemas": [USER], "userName": "dave2", "active": True, "externalId": "x-1"}
        ).status_code
        == 409
    )


def test_a_scim_user_is_created_managed_without_password_and_audited(scim):
    body = new_user(scim, "kim", emails=[{"value": "kim@example.com", "primary": True}])
    kim = User.objects.get(pk=body["id"])
    assert kim.scim_managed and not kim.has_usable_password() and not kim.is_staff and not kim.is_superuser
    event = AuditEvent.objects.get(verb="user.created", subject_id=str(kim.pk))
    assert event.actor == "system:scim"
    assert body["meta"]["location"] == f"http://testserver/scim/v2/Users/{kim.pk}"


def test_delete_deactivates_keeps_the_account_and_then_404(
    scim, settings, django_capture_on_commit_callbacks
):
    settings.STEWARD_OIDC_ROLE_MAP = ROLE_MAP
    lee = new_user(scim, "lee")["id"]
    new_group(scim, "steward-iam", members=[lee])
    identity = IdentityFactory(owner=User.objects.get(pk=lee), name="lee-bot")
    with django_capture_on_commit_callbacks(execute=True):
        assert scim("DELETE", f"Users/{lee}").status_code == 204
    user = User.objects.get(pk=lee)  # never hard-deleted: the audit trail refers to them
    assert not user.is_active and not user.scim_managed and roles_of("lee") == set()
    assert not user.scim_groups.exists()
    identity.refresh_from_db()
    assert identity.owner is None
    assert scim("GET", f"Users/{lee}").status_code == 404
    assert scim("DELETE", f"Users/{lee}").status_code == 404
    verbs = set(
        AuditEvent.objects.filter(subject_id=lee, subject_type="governance.user").values_list(
            "verb", flat=True
        )
    )
    assert {"user.created", "user.deactivated", "user.updated", "user.roles_changed"} <= verbs


def test_superusers_are_never_served(scim):
    root = UserFactory(username="root", is_superuser=True)
    User.objects.filter(pk=root.pk).update(scim_managed=True)
    assert scim("GET", f"Users/{root.pk}").status_code == 404
    assert (
        scim(
            "PATCH", f"Users/{root.pk}", patch({"op": "replace", "path": "active", "value": False})
        ).status_code
        == 404
    )
    root.refresh_from_db()
    assert root.is_active


def test_every_change_is_audited_as_system_scim(scim, settings):
    settings.STEWARD_OIDC_ROLE_MAP = ROLE_MAP
    before = AuditEvent.objects.count()
    mo = new_user(scim, "mo")["id"]
    group = new_group(scim, "steward-iam", members=[mo])["id"]
    scim("PATCH", f"Users/{mo}", patch({"op": "replace", "path": "displayName", "value": "Mo"}))
    scim("PATCH", f"Groups/{group}", patch({"op": "replace", "path": "displayName", "value": "other"}))
    scim("DELETE", f"Groups/{group}")
    scim("DELETE", f"Users/{mo}")
    events = AuditEvent.objects.order_by("seq")[before:]
    assert {e.actor for e in events} == {"system:scim"}
    assert {e.verb for e in events} >= {
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.roles_changed",
        "scim_group.created",
        "scim_group.updated",
        "scim_group.deleted",
    }


def test_authentication_and_scope(scim, iam, client):
    none = scim("GET", "Users", bearer=None)
    assert none.status_code == 401 and none.json()["schemas"] == [ERROR]
    assert none["WWW-Authenticate"].startswith("Bearer")
    assert scim("GET", "Users", bearer="stw_not-a-token").status_code == 401
    _read, read_token = issue_token(system("test"), iam, scope="read", days=1)
    refused = scim("GET", "Users", bearer=read_token)
    assert refused.status_code == 403 and "scim" in refused.json()["detail"]
    _write, write_token = issue_token(system("test"), iam, scope="write", days=1)
    assert (
        scim(
            "POST", "Users", {"schemas": [USER], "userName": "x", "active": True}, bearer=write_token
        ).status_code
        == 403
    )
    # A browser session is no SCIM credential (and no CSRF token is needed with a bearer token).
    client.force_login(iam)
    assert client.get("/scim/v2/Users").status_code == 401
    assert Client(enforce_csrf_checks=True).get("/scim/v2/ServiceProviderConfig").status_code == 401


def test_a_scim_token_cannot_use_the_api_at_all(token, iam):
    """Every API route and method, with the service user's token and with a SCIM token held by an IAM
    approver: the scope alone refuses (403), whatever the view's own permissions would allow."""
    _row, iam_scim_token = issue_token(system("test"), iam, scope="scim", days=1)
    api = Client()
    refused = 0
    for route in steward_routes():
        if not route.pattern.startswith("api/v1/"):
            continue
        for method in route.methods:
            for value in (token, iam_scim_token):
                response = getattr(api, method.lower())(
                    "/" + PARAM.sub("1", route.pattern.replace("^", "").replace("$", "")),
                    HTTP_AUTHORIZATION=f"Bearer {value}",
                    content_type="application/json",
                )
                assert response.status_code == 403, (method, route.pattern, response.status_code)
                assert "scope 'scim'" in response.json()["detail"], (method, route.pattern)
                refused += 1
    assert refused > 50


def test_issue_scim_token_creates_or_reuses_the_service_user(token):
    holder = ApiToken.objects.get(scope="scim").user
    assert holder.username == "scim-provisioner" and holder.is_active
    assert not holder.has_usable_password() and not holder.is_staff and not holder.groups.exists()
    assert Identity.objects.filter(api_token__scope="scim", owner=holder).count() == 1
    out = io.StringIO()
    call_command("issue_scim_token", "--name", "second", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() != token
    assert User.objects.filter(username="scim-provisioner").count() == 1
    assert ApiToken.objects.filter(user=holder, scope="scim").count() == 2
    User.objects.filter(pk=holder.pk).update(is_staff=True)
    with pytest.raises(CommandError):
        call_command("issue_scim_token", stdout=io.StringIO(), stderr=io.StringIO())


def test_discovery(scim):
    config = scim("GET", "ServiceProviderConfig").json()
    assert config["patch"] == {"supported": True}
    assert config["bulk"]["supported"] is False and config["sort"] == {"supported": False}
    assert config["etag"] == {"supported": False} and config["changePassword"] == {"supported": False}
    assert config["filter"]["supported"] is True and config["filter"]["maxResults"] == 200
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert {r["id"] for r in scim("GET", "ResourceTypes").json()["Resources"]} == {"User", "Group"}
    schemas = {s["id"]: s for s in scim("GET", "Schemas").json()["Resources"]}
    assert [a["name"] for a in schemas[USER]["attributes"]] == [
        "userName",
        "name",
        "displayName",
        "active",
        "emails",
        "groups",
    ]
    assert scim("GET", "Bulk").status_code == 405
    assert scim("POST", "Bulk", {}).status_code == 501


def _user(**values):
    return json.dumps({"schemas": [USER], **values})


def _group(**values):
    return json.dumps({"schemas": [GROUP], **values})


def _patch(*operations):
    return json.dumps(patch(*operations))


ODD = [
    ("POST", "Users", "not json"),
    ("POST", "Users", "[]"),
    ("POST", "Users", _user(userName="a b", active=True)),
    ("POST", "Users", _user(userName="nul\x00", active=True)),
    ("POST", "Users", _user(userName="x" * 500, active=True)),
    ("POST", "Users", _user(userName="ok", active=True, displayName="d" * 300)),
    ("POST", "Users", _user(userName=5, active="maybe")),
    ("POST", "Users", _user(active=True)),
    ("POST", "Users", _user(userName="ok2", active=True, emails=[{"value": "a@b.c", "primary": True}] * 2)),
    ("POST", "Users", _user(userName="ok3", active=True, emails=[{"value": "e" * 300 + "@x.org"}])),
    ("POST", "Groups", _group(displayName="g", members=[{"value": "99999999999999999999999"}])),
    ("POST", "Groups", _group(displayName="g", members=[{"value": "abc"}])),
    ("POST", "Groups", _group(displayName="g", members=[{"value": "1", "type": "Group"}])),
    ("PATCH", "Users/1", _patch({"op": "explode", "path": "active"})),
    ("PATCH", "Users/99999999999999999999", _patch()),
    ("PUT", "Users/abc", _user(userName="z", active=True)),
    ("GET", "Users?startIndex=-5&count=abc", None),
    ("GET", 'Users?filter=id eq "99999999999999999999999"', None),
    ("GET", 'Users?filter=meta.created gt "yesterday"', None),
    ("GET", "Users/..%2F..%2Fadmin", None),
    ("DELETE", "Groups/0", None),
    ("PATCH", "ServiceProviderConfig", "{}"),
]


@pytest.mark.parametrize("method,path,raw", ODD)
def test_odd_input_is_a_scim_answer_never_a_500(scim, method, path, raw):
    response = scim(method, path, raw=raw)
    assert response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"] == "application/scim+json"
    if response.status_code >= 400:
        assert response.json()["schemas"] == [ERROR]


def test_a_patch_on_a_user_by_id_of_another_type_is_404(scim):
    group = new_group(scim, "only-a-group")
    assert scim("GET", f"Users/{group['id']}").status_code == 404
