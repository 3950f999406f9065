"""The audit log's count (issue 23): unfiltered, the page and the API read it from the chain head
(`audit.length`), not from COUNT(*) over every event; with a filter the list counts. Both give what
COUNT(*) gives, on every database."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from governance import audit
from governance.actors import system
from governance.models import AuditEvent
from tests.governance.audit_support import write_events

pytestmark = pytest.mark.django_db


def test_the_length_is_the_number_of_events_one_by_one_and_in_bulk(team):
    before = AuditEvent.objects.count()
    assert audit.length() == before
    write_events(3, team)
    with transaction.atomic():
        audit.record_many(system("test"), [{"verb": "thing.listed", "subject": team}] * 5)
    try:
        with transaction.atomic():
            write_events(2, team)
            assert audit.length() == AuditEvent.objects.count()  # its own events
            raise RuntimeError
    except RuntimeError:
        pass
    assert audit.length() == AuditEvent.objects.count() == before + 8  # rolled back with them


def counting(captured) -> list[str]:
    return [q["sql"] for q in captured if "COUNT(" in q["sql"]]


@pytest.mark.parametrize("query", ["", "page=2", "verb=thing.", "actor=nobody", "since=not-a-time"])
def test_the_page_and_api_count_what_they_list(client, api_as, auditor, team, query):
    write_events(60, team)
    expected = 0 if query in ("actor=nobody", "since=not-a-time") else AuditEvent.objects.count()
    client.force_login(auditor)
    api = api_as(auditor)
    client.get(f"/audit/?{query}"), api.get(f"/api/v1/audit-events/?{query}")  # roles read once
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get(f"/audit/?{query}")
    assert page.context["page"].paginator.count == expected
    with CaptureQueriesContext(connection) as api_queries:
        answer = api.get(f"/api/v1/audit-events/?{query}")
    if query == "since=not-a-time":
        assert answer.status_code == 400  # the API refuses a filter it cannot read
        return
    body = answer.json()
    assert body["count"] == expected
    assert len(body["results"]) == min(50, expected - (50 if query == "page=2" else 0))
    from_head = query in ("", "page=2")
    assert bool(counting(page_queries)) is not from_head
    assert bool(counting(api_queries)) is not from_head
