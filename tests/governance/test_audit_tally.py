"""The audit events tally (migration governance.0032, issue 23): on PostgreSQL the unfiltered audit
log's count, on the page and in the API, is a sum kept by statement triggers, always what COUNT(*)
says; with a filter, or on another database, the list counts."""

import importlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from governance import audit
from governance.actors import system
from governance.models import AuditEvent
from governance.tally import AUDIT_EVENTS
from tests.governance.audit_support import write_events
from tests.inventory.migration_support import assert_does_nothing_on_sqlite

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the tally is PostgreSQL's")
migration = importlib.import_module("governance.migrations.0032_audit_event_tally")


def test_the_migration_does_nothing_on_sqlite():
    assert_does_nothing_on_sqlite(migration)


@postgresql_only
@pytest.mark.django_db
def test_the_tally_follows_every_event_one_by_one_and_in_bulk(team):
    assert AUDIT_EVENTS.count() == AuditEvent.objects.count()
    write_events(3, team)
    with transaction.atomic():
        audit.record_many(system("test"), [{"verb": "thing.listed", "subject": team}] * 5)
    assert AUDIT_EVENTS.count() == AuditEvent.objects.count()
    try:
        with transaction.atomic():
            write_events(2, team)
            assert AUDIT_EVENTS.count() == AuditEvent.objects.count()  # its own rows
            raise RuntimeError
    except RuntimeError:
        pass
    assert AUDIT_EVENTS.count() == AuditEvent.objects.count()  # rolled back with them
    AUDIT_EVENTS.compact()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM governance_auditevent_tally")
        assert cursor.fetchone()[0] == 1
    assert AUDIT_EVENTS.count() == AuditEvent.objects.count()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_emptying_the_log_empties_the_tally(team):
    write_events(2, team)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE governance_auditevent")
    assert AUDIT_EVENTS.count() == 0


def counting(captured) -> list[str]:
    return [q["sql"] for q in captured if "COUNT(" in q["sql"] and "tally" not in q["sql"]]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "page=2", "verb=thing.", "actor=nobody"])
def test_the_log_page_and_api_count_every_event_from_the_tally_when_unfiltered(
    client, api_as, auditor, team, query
):
    write_events(60, team)
    expected = 0 if query == "actor=nobody" else AuditEvent.objects.count()
    client.force_login(auditor)
    api = api_as(auditor)
    client.get(f"/audit/?{query}"), api.get(f"/api/v1/audit-events/?{query}")  # roles read once
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get(f"/audit/?{query}")
    with CaptureQueriesContext(connection) as api_queries:
        body = api.get(f"/api/v1/audit-events/?{query}").json()
    assert page.context["page"].paginator.count == body["count"] == expected
    from_tally = connection.vendor == "postgresql" and query in ("", "page=2")
    assert bool(counting(page_queries)) is not from_tally
    assert bool(counting(api_queries)) is not from_tally
    assert len(body["results"]) == min(50, expected - (50 if query == "page=2" else 0))
