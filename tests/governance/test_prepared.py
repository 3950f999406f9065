"""The hot statements' cursor (governance.prepared): bound on the server and prepared once run a few
times on PostgreSQL, never prepared when preparing is off (PgBouncer), logged and translated like
Django's own cursors everywhere."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from governance import prepared
from governance.actors import system
from governance.people.tokens import _token_with_roles, hash_token
from governance.prepared import server_bound_cursor
from inventory.tokens import issue_token

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="prepared statements are PostgreSQL's"
)


def _prepared_token_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%token_hash%"]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def token_hash(iam):
    return hash_token(issue_token(system("test"), iam, scope="read", days=1, name="prepared")[1])


@on_postgresql
def test_the_token_statement_is_prepared_after_it_has_run_a_few_times(token_hash):
    threshold = connection.connection.prepare_threshold
    assert threshold is not None  # the settings turn psycopg's preparing on (Django turns it off)
    before = _prepared_token_statements()
    for _ in range(threshold + 1):
        token = _token_with_roles(token_hash)
    assert token is not None and token.token_hash == token_hash
    assert _prepared_token_statements() == before + 1
    for _ in range(3):
        assert _token_with_roles(token_hash).pk == token.pk  # answered by the prepared statement
    assert _prepared_token_statements() == before + 1  # once, not once a call


@on_postgresql
def test_nothing_is_prepared_when_preparing_is_off(token_hash):
    """What STEWARD_PGBOUNCER=1 sets (prepare_threshold None): parameters still bound on the server."""
    raw = connection.connection
    saved = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        before = _prepared_token_statements()
        for _ in range(8):
            assert _token_with_roles(token_hash) is not None
        assert _prepared_token_statements() == before
    finally:
        raw.prepare_threshold = saved


def test_statements_are_logged_with_their_values(token_hash):
    with CaptureQueriesContext(connection) as queries:
        _token_with_roles(token_hash)
    assert len(queries.captured_queries) == 1
    assert token_hash in queries.captured_queries[0]["sql"]


def test_database_errors_are_djangos(db):
    with pytest.raises(DatabaseError), server_bound_cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM governance_apitoken WHERE id = %s", [1])


@on_postgresql
def test_a_value_the_database_refuses_is_djangos_error_with_queries_logged(db):
    """A NUL byte in text: refused before it is sent; logging the statement (which fills the values
    in) must not turn Django's DataError into psycopg's own."""
    with (
        CaptureQueriesContext(connection),
        pytest.raises(DatabaseError),
        server_bound_cursor() as cursor,
    ):
        cursor.execute("SELECT id FROM governance_apitoken WHERE token_hash = %s", ["a\x00b"])


@pytest.mark.django_db
def test_a_kept_statement_runs_with_the_values_of_each_call(owner):
    """Compiled once with stand-ins (an id, a time), run with the real ones each time, on every database."""
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import Grant
    from tests.factories import GrantFactory, IdentityFactory

    identity, other = IdentityFactory(owner=owner), IdentityFactory(owner=owner)
    now = timezone.now()
    soon = GrantFactory(identity=identity, expires_at=now + timedelta(hours=1))
    later = GrantFactory(identity=identity, expires_at=now + timedelta(days=2))
    theirs = GrantFactory(identity=other, expires_at=now + timedelta(days=2))
    stand_in, at = prepared.sentinel_ids(1)[0], prepared.SENTINEL_TIME

    def live(pk, when):
        return prepared.instances(
            Grant,
            "tests.live-grants",
            lambda: Grant.objects.filter(identity_id=stand_in, expires_at__gt=at).order_by("pk"),
            {stand_in: pk, at: when},
        )

    assert live(identity.pk, now) == [soon, later]
    assert live(identity.pk, now + timedelta(hours=2)) == [later]
    assert live(other.pk, now) == [theirs]
    assert live(identity.pk, now)[0].expires_at == soon.expires_at  # instances with every field loaded


@pytest.mark.django_db
def test_a_kept_statement_names_its_columns_in_the_order_they_are_selected(owner):
    """`.values()` may name an annotation before a field; each value must come back under its own name."""
    from django.db.models import Value

    from inventory.models import Identity
    from tests.factories import IdentityFactory

    identity = IdentityFactory(owner=owner, name="ordered")
    stand_in = prepared.sentinel_ids(1)[0]
    statement = prepared.compiled(
        "tests.annotation-first",
        lambda: Identity.objects.filter(pk=stand_in).annotate(flag=Value(7)).values("flag", "name", "id"),
    )
    (row,) = prepared.rows(statement, {stand_in: identity.pk})
    assert row == {"flag": 7, "name": "ordered", "id": identity.pk}


def test_kept_statements_are_bounded_and_the_least_used_goes_first(monkeypatch):
    from inventory.models import Identity

    monkeypatch.setattr(prepared, "KEPT_PER_THREAD", 2)
    monkeypatch.setattr(prepared._compiled, "by_key", None, raising=False)
    built = []

    def build(name):
        def queryset():
            built.append(name)
            return Identity.objects.filter(name=name).values("id")

        return queryset

    for name in ("a", "b", "a", "c", "a", "b"):
        prepared.compiled(("tests.bounded", name), build(name))
    assert built == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came
