"""Who may report usage for which identity, and the `report` token scope (issue 18, item 5).

The hostile shape: a tool owner's write token POSTed `usage-events/` for another owner's identity and
got 201 (which resolved a `stale_unused` finding and raised `used_after_revocation` on a third). A token
acts for its holder: an owner reports for what they own, as in the browser (403 naming the identities
otherwise). A token of scope `report` — issued to IAM/Security, or by IAM for a machine's user — reports
usage for any identity and does nothing else: every other endpoint answers 403.
"""

import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from governance.errors import NotAllowed
from governance.people.models import ApiToken, Role
from inventory import services, usage
from inventory.models import Identity, UsageEvent
from inventory.tokens import issue_token
from tests.factories import IdentityFactory, UserFactory


def iso(value):
    return value.isoformat()


def bearer(client, value, method, path, body=None):
    call = getattr(client, method)
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {value}"}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return call(path, **kwargs)


@pytest.fixture
def theirs(owner2):
    """Another owner's identity, unused for months (a stale_unused finding would be open)."""
    return IdentityFactory(owner=owner2, name="owner2-bot", last_used_at=timezone.now() - timedelta(days=200))


@pytest.fixture
def mine(owner):
    return IdentityFactory(owner=owner, name="owner-bot")


@pytest.fixture
def machine(db, iam):
    """A discovery job's service user (no role) with a report token issued by IAM."""
    user = UserFactory(username="discovery", roles=[])
    _, value = issue_token(iam, user, scope="report", name="discovery")
    return value


@pytest.mark.django_db
def test_owner_write_token_reporting_for_another_owners_identity_is_403(client, owner, theirs):
    _, value = issue_token("system:test", owner, scope="write")
    events = [{"identity": theirs.pk, "at": iso(timezone.now()), "action": "read_code"}]
    response = bearer(client, value, "post", "/api/v1/usage-events/", events)
    assert response.status_code == 403, response.json()
    assert str(theirs.pk) in response.json()["detail"]
    assert UsageEvent.objects.count() == 0
    theirs.refresh_from_db()
    assert theirs.last_used_at < timezone.now() - timedelta(days=100)


@pytest.mark.django_db
def test_a_mixed_batch_is_refused_whole_naming_only_the_foreign_identities(client, owner, mine, theirs):
    _, value = issue_token("system:test", owner, scope="write")
    suspended = IdentityFactory(owner=IdentityFactory().owner, status=Identity.Status.SUSPENDED)
    now = iso(timezone.now())
    events = [
        {"identity": mine.pk, "at": now},
        {"identity": theirs.pk, "at": now},
        {"identity": suspended.pk, "at": now},
    ]
    response = bearer(client, value, "post", "/api/v1/usage-events/", events)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert f"{theirs.pk}, {suspended.pk}" in detail and f" {mine.pk}," not in detail
    assert UsageEvent.objects.count() == 0


@pytest.mark.django_db
def test_owner_write_token_reports_for_its_own_identity(client, owner, mine):
    _, value = issue_token("system:test", owner, scope="write")
    response = bearer(
        client, value, "post", "/api/v1/usage-events/", [{"identity": mine.pk, "at": iso(timezone.now())}]
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_single_usage_endpoint_refuses_another_owners_identity_too(client, owner, theirs):
    _, value = issue_token("system:test", owner, scope="write")
    response = bearer(
        client, value, "post", f"/api/v1/identities/{theirs.pk}/usage/", {"at": iso(timezone.now())}
    )
    assert response.status_code == 403 and str(theirs.pk) in response.json()["detail"]


@pytest.mark.django_db
def test_report_token_reports_for_any_identity_on_both_endpoints(client, machine, theirs, mine):
    suspended = IdentityFactory(status=Identity.Status.SUSPENDED)
    now = iso(timezone.now())
    batch = [{"identity": theirs.pk, "at": now}, {"identity": suspended.pk, "at": now}]
    response = bearer(client, machine, "post", "/api/v1/usage-events/", batch)
    assert response.status_code == 201, response.json()
    assert response.json()["after_revocation"] == 1
    single = bearer(client, machine, "post", f"/api/v1/identities/{mine.pk}/usage/", {"at": now})
    assert single.status_code == 201, single.json()
    assert UsageEvent.objects.count() == 3


def _api_paths():
    """Every /api/v1/ route, with ids filled in (DRF's format-suffix variants left out)."""
    paths = set()

    def walk(patterns, prefix):
        for entry in patterns:
            pattern = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, pattern)
            elif isinstance(entry, URLPattern) and "format" not in pattern:
                paths.add(pattern)

    walk(get_resolver().url_patterns, "")
    out = set()
    for pattern in paths:
        path = re.sub(r"\(\?P<[^>]+>[^)]+\)", "1", pattern)
        path = re.sub(r"<(?:int:)?[^>]+>", "1", path).replace("^", "").replace("$", "")
        if path.startswith("api/v1/") and path != "api/v1/":
            out.add("/" + path)
    return sorted(out)


API_PATHS = _api_paths()
# Usage reports, and endpoint scans (tests/connectors/test_endpoint_scan.py covers those).
ALLOWED = {
    ("post", "/api/v1/usage-events/"),
    ("post", "/api/v1/identities/1/usage/"),
    ("post", "/api/v1/connectors/1/reports/"),
}


def test_the_route_list_covers_the_api():
    assert len(API_PATHS) > 30 and "/api/v1/usage-events/" in API_PATHS and "/api/v1/decisions/" in API_PATHS


@pytest.mark.django_db
@pytest.mark.parametrize("holder", ["machine", "iam_user"])
def test_report_token_gets_403_on_every_other_endpoint(client, iam, security, holder, machine):
    IdentityFactory(owner=iam)  # id 1 exists for detail routes
    value = machine if holder == "machine" else issue_token("system:test", security, scope="report")[1]
    unexpected = []
    for path in API_PATHS:
        for method in ("get", "post", "patch", "put", "delete"):
            if (method, path) in ALLOWED:
                continue
            response = bearer(client, value, method, path, {} if method != "get" else None)
            if response.status_code not in (403, 405):
                unexpected.append((method, path, response.status_code))
            elif (
                holder == "iam_user" and response.status_code == 403 and "report" not in str(response.content)
            ):
                # The IAM holder passes every role check: the refusal is the scope's, and says so.
                unexpected.append((method, path, "403 without naming the scope"))
    assert unexpected == []


# ---------------------------------------------------------------- issuing report tokens


@pytest.mark.django_db
def test_report_tokens_go_to_iam_or_security_or_are_issued_by_iam(owner, iam, security):
    machine_user = UserFactory(username="gateway", roles=[])
    with pytest.raises(ValueError):
        issue_token("system:test", machine_user, scope="report")
    with pytest.raises(ValueError):
        issue_token(owner, owner, scope="report")  # an owner may not give themselves one
    with pytest.raises(ValueError):
        issue_token(security, machine_user, scope="report")  # issued by IAM, not Security
    assert issue_token("system:test", security, scope="report")[0].scope == "report"
    token, _ = issue_token(iam, machine_user, scope="report")
    assert token.scope == ApiToken.Scope.REPORT and token.identity.risk_tier == "medium"


@pytest.mark.django_db
def test_issue_api_token_command_takes_the_report_scope(capsys, iam, owner):
    UserFactory(username="gateway", roles=[])
    with pytest.raises(CommandError):
        call_command("issue_api_token", "gateway", "--scope", "report")
    with pytest.raises(CommandError):
        call_command("issue_api_token", "gateway", "--scope", "report", "--issued-by", "owner")
    call_command("issue_api_token", "gateway", "--scope", "report", "--issued-by", "iam")
    assert capsys.readouterr().out.strip().startswith("stw_")
    call_command("issue_api_token", "iam", "--scope", "report")
    assert ApiToken.objects.filter(scope="report").count() == 2


# ---------------------------------------------------------------- the service, per role


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,own,foreign",
    [
        ("owner", True, False),
        ("owner2", False, True),
        ("iam", True, True),
        ("security", True, True),
        ("auditor", False, False),
        ("outsider", False, False),
    ],
)
def test_who_may_report_for_which_identity(role_users, mine, theirs, username, own, foreign):
    user = role_users[username]
    for identity, allowed in ((mine, own), (theirs, foreign)):
        event = [{"identity": identity.pk, "at": iso(timezone.now())}]
        if allowed:
            assert usage.ingest_usage(user, event).as_dict()["accepted"] == 1
        else:
            with pytest.raises(NotAllowed):
                usage.ingest_usage(user, event)


@pytest.mark.django_db
def test_a_report_token_of_an_auditor_reports_nothing(iam):
    auditor = UserFactory(username="auditor-bot", roles=[Role.AUDITOR])
    token, _ = issue_token(iam, auditor, scope="report")
    from governance.actors import Actor

    actor = Actor(label=f"token:{token.key_prefix}", kind="token", user=auditor, token_id=token.pk)
    with pytest.raises(NotAllowed):
        usage.ingest_usage(
            actor,
            [
                {
                    "identity": services.Identity.objects.create(name="x", kind="bot").pk,
                    "at": iso(timezone.now()),
                }
            ],
        )
