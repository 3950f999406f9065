"""The identities tally (migration inventory.0012, issue 23): on PostgreSQL the unfiltered list's
exact `count` is a sum kept by statement triggers, always what COUNT(*) says; elsewhere it counts."""

import importlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory import tally as tally_module
from inventory.models import Identity
from inventory.tally import IdentityTally, compact_tally
from tests.factories import IdentityFactory, UserFactory
from tests.inventory.migration_support import assert_does_nothing_on_sqlite

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the tally is PostgreSQL's")
migration = importlib.import_module("inventory.migrations.0012_identity_tally")


def tally() -> int:
    return IdentityTally().count()


@postgresql_only
@pytest.mark.django_db
def test_the_tally_follows_every_insert_and_delete(owner):
    assert tally() == Identity.objects.count()
    IdentityFactory.create_batch(3)
    Identity.objects.bulk_create([Identity(name=f"bulk-{n}", kind="bot") for n in range(40)])
    assert tally() == Identity.objects.count()
    Identity.objects.filter(name__startswith="bulk-1").delete()  # bulk-1, bulk-10..19
    Identity.objects.filter(name="nobody").delete()  # deletes nothing, adds no row
    assert tally() == Identity.objects.count()
    try:
        with transaction.atomic():
            IdentityFactory.create_batch(5)
            assert tally() == Identity.objects.count()  # the transaction sees its own rows
            raise RuntimeError
    except RuntimeError:
        pass
    assert tally() == Identity.objects.count()  # rolled back with them


@postgresql_only
@pytest.mark.django_db
def test_compacting_keeps_the_sum_and_leaves_one_row(owner):
    for n in range(12):
        IdentityFactory(name=f"one-{n}")
    Identity.objects.filter(name__in=["one-1", "one-2"]).delete()
    before = tally()
    compact_tally()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_identity_tally")
        assert cursor.fetchone()[0] == 1
    assert tally() == before == Identity.objects.count()


@postgresql_only
@pytest.mark.django_db
def test_readers_compact_a_long_tally(owner, monkeypatch):
    monkeypatch.setattr(tally_module, "TALLY_COMPACT_ABOVE", 3)
    for n in range(6):
        IdentityFactory(name=f"many-{n}")
    assert tally() == Identity.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_identity_tally")
        assert cursor.fetchone()[0] == 1
    assert tally() == Identity.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "ordering=-name", "kind=bot", "search=tally", "cursor="])
def test_the_list_count_is_exact_with_and_without_filters(api_as, auditor, query):
    owner = UserFactory(username="tally-owner")
    IdentityFactory.create_batch(4, owner=owner, kind="bot", product="Tally")
    IdentityFactory.create_batch(3, owner=owner, kind="api_key")
    client = api_as(auditor)
    client.get(f"/api/v1/identities/?{query}")  # the user's roles are read once
    with CaptureQueriesContext(connection) as captured:
        body = client.get(f"/api/v1/identities/?{query}").json()
    counted = [q["sql"] for q in captured if "COUNT(*)" in q["sql"] and "tally" not in q["sql"]]
    windowed = [q["sql"] for q in captured if "OVER ()" in q["sql"]]
    if query == "cursor=":
        assert "count" not in body and not counted and not windowed
        return
    expected = {"": 7, "ordering=-name": 7, "kind=bot": 4, "search=tally": 4}[query]
    assert body["count"] == expected
    if query.startswith("search"):
        assert windowed and not counted  # counted in the pass that finds the page
    elif query == "kind=bot" or connection.vendor != "postgresql":
        assert counted
    else:
        assert not counted  # unfiltered on PostgreSQL: the tally answers


def test_the_migration_does_nothing_on_sqlite():
    assert_does_nothing_on_sqlite(migration)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "ordering=-name", "kind=bot", "mine=false", "ordering=bogus"])
def test_the_list_page_counts_every_identity_from_the_tally_when_unfiltered(client, iam, query):
    IdentityFactory.create_batch(4, kind="bot")
    IdentityFactory.create_batch(3, kind="api_key")
    client.force_login(iam)
    client.get(f"/inventory/?{query}")  # the user's roles are read once
    with CaptureQueriesContext(connection) as captured:
        page = client.get(f"/inventory/?{query}")
    counted = [q["sql"] for q in captured if "COUNT(*)" in q["sql"] and "tally" not in q["sql"]]
    expected = {"kind=bot": 4, "ordering=bogus": 0}.get(query, Identity.objects.count())  # not valid: none
    assert page.context["page"].paginator.count == expected
    from_tally = connection.vendor == "postgresql" and query in ("", "ordering=-name")
    assert any("inventory_identity_tally" in q["sql"] for q in captured) is from_tally
    assert bool(counted) is (query not in ("ordering=bogus",) and not from_tally)  # none() asks nothing
