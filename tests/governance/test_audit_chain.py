import pytest
from django.db import connection

from governance import audit
from governance.actors import system
from governance.audit import verify_chain
from governance.models import AppendOnlyError, AuditEvent
from tests.governance.audit_support import raw_sql, verify_fails, verify_passes, write_events


@pytest.mark.django_db
def test_events_chain_and_verify(team):
    write_events(5, team)
    report = verify_chain()
    assert report.ok and report.checked == 5
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))


@pytest.mark.django_db(transaction=True)
def test_editing_one_row_is_found_by_verify_audit_chain(team):
    write_events(5, team)
    raw_sql("UPDATE governance_auditevent SET reason = %s WHERE seq = 3", ["tampered"])
    assert "sequence 3" in verify_fails()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("written", "deleted"),
    [(4, 2), (3, 3)],
    ids=["a-row-in-the-middle", "the-last-row-found-against-the-head"],
)
def test_deleting_one_row_is_found(team, written, deleted):
    write_events(written, team)
    raw_sql("DELETE FROM governance_auditevent WHERE seq = %s", [deleted])
    report = verify_chain()
    assert not report.ok and report.broken_seq == deleted


@pytest.mark.django_db
def test_intact_chain_exits_zero(team, capsys):
    write_events(2, team)
    assert "intact: 2 events" in verify_passes(capsys)


@pytest.mark.django_db
def test_application_refuses_updates_and_deletes(team):
    write_events(1, team)
    event = AuditEvent.objects.get()
    event.reason = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(seq=1).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_record_needs_a_transaction(team):
    with pytest.raises(RuntimeError):
        audit.record(system("test"), "thing.changed", team)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL")
@pytest.mark.parametrize(
    "sql", ["UPDATE governance_auditevent SET reason = 'x'", "DELETE FROM governance_auditevent"]
)
def test_postgres_refuses_raw_update_and_delete(team, sql):
    from django.db.utils import DatabaseError

    write_events(1, team)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(sql)
    assert verify_chain().ok
