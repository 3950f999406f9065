import re

import pytest
from django.db import transaction

from governance import audit
from governance.actors import system


@pytest.fixture
def events(team):
    with transaction.atomic():
        audit.record(system("sweep"), "finding.opened", team, after={"rule": "stale_unused"})
        audit.record(
            system("other"), "identity.suspended", ("inventory.identity", 7, "bot-7"), reason="stale"
        )
    return team


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status", [("owner", 403), ("outsider", 403), ("iam", 200), ("security", 200), ("auditor", 200)]
)
def test_audit_api_is_readable_by_iam_security_auditors_only(role_users, api_as, events, username, status):
    assert api_as(role_users[username]).get("/api/v1/audit-events/").status_code == status


@pytest.mark.django_db
def test_audit_api_filters_and_paginates(auditor, api_as, events):
    client = api_as(auditor)
    body = client.get("/api/v1/audit-events/").json()
    assert body["count"] == 2 and {"next", "previous", "results"} <= set(body)
    assert client.get("/api/v1/audit-events/?actor=system:sweep").json()["count"] == 1
    assert client.get("/api/v1/audit-events/?verb=identity.").json()["count"] == 1
    rows = client.get("/api/v1/audit-events/?subject=inventory.identity:7").json()["results"]
    assert [r["verb"] for r in rows] == ["identity.suspended"]


@pytest.mark.django_db
def test_audit_api_is_read_only(security, api_as, events):
    client = api_as(security)
    assert client.post("/api/v1/audit-events/", {}, format="json").status_code == 405
    assert client.delete("/api/v1/audit-events/1/").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("username,status", [("owner", 403), ("iam", 200), ("auditor", 200)])
def test_audit_page_by_role(client_as, events, username, status):
    assert client_as(username).get("/audit/").status_code == status


@pytest.mark.django_db
def test_audit_page_filters_and_htmx_fragment(client, auditor, events):
    client.force_login(auditor)
    page = client.get("/audit/?verb=finding").content.decode()
    assert "finding.opened" in page and "identity.suspended" not in page
    fragment = client.get("/audit/?verb=identity", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "identity.suspended" in fragment


@pytest.mark.django_db
def test_audit_page_empty_state(client, auditor):
    client.force_login(auditor)
    assert "No audit events match" in client.get("/audit/").content.decode()


@pytest.mark.django_db
def test_audit_page_query_count_is_fixed(client, auditor, django_assert_max_num_queries, team):
    with transaction.atomic():
        for i in range(60):
            audit.record(system("t"), "x.y", team, after={"i": i})
    client.force_login(auditor)
    with django_assert_max_num_queries(8):
        assert client.get("/audit/").status_code == 200


def test_an_actors_events_page_newest_first_in_two_steps(auditor, api_as, client):
    """Filtered by actor, the log is read index-first (seq numbers, then rows): same rows, same
    order, same count as the plain query, on every page, in the page and the API."""
    from governance import audit
    from governance.actors import system
    from governance.filters import NewestFirstByIndex
    from governance.models import AuditEvent

    for n in range(7):
        audit.record(system("sweep"), "finding.opened", ("inventory.identity", n, f"x{n}"))
        audit.record(system("bench"), "identity.updated", ("inventory.identity", n, f"y{n}"))
        audit.record(system("bench"), "identity.suspended", ("inventory.identity", n, f"z{n}"))
    plain = AuditEvent.objects.filter(actor="system:bench", verb__startswith="identity.").order_by("-seq")
    two_step = NewestFirstByIndex(plain)
    assert two_step.count() == len(two_step) == 14
    for window in (slice(0, 5), slice(5, 10), slice(10, 15)):
        assert [e.seq for e in two_step[window]] == [e.seq for e in plain[window]]
    assert two_step[0].seq == plain[0].seq
    body = api_as(auditor).get("/api/v1/audit-events/?actor=system:bench&verb=identity.&page_size=5").json()
    assert body["count"] == 14 and body["next"]
    assert [e["seq"] for e in body["results"]] == [e.seq for e in plain[:5]]
    client.force_login(auditor)
    page = client.get("/audit/?actor=system:bench&verb=identity.suspended").content.decode()
    # The subjects listed (not a bare "x6", which a random CSRF token can contain).
    subjects = set(re.findall(r'data-testid="audit-subject">([^<]*)<', page))
    assert "z6" in subjects and not subjects & {"y6", "x6"}, subjects
