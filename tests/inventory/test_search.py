"""The inventory search (issue 23): the same rows on SQLite and PostgreSQL, served by a trigram index
on PostgreSQL (migration inventory.0011), correct for the terms an index cannot serve."""

import importlib

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from inventory.filters import SEARCH_FIELDS, SEARCH_SEPARATOR, search
from inventory.models import Identity
from tests.factories import IdentityFactory
from tests.inventory.migration_support import assert_does_nothing_on_sqlite

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's")
migration = importlib.import_module("inventory.migrations.0011_identity_search_trigram_index")


@pytest.fixture
def estate(db):
    """One identity per searched column holding a distinctive word, and look-alikes around them."""
    return {
        "name": IdentityFactory(name="Nightly-Builder", vendor="Acme", product="Forge", model_name=""),
        "vendor": IdentityFactory(name="ci-helper", vendor="OpenAI", product="Runner", model_name=""),
        "product": IdentityFactory(name="pair-1", vendor="Acme", product="Codex CLI", model_name=""),
        "model": IdentityFactory(name="pair-2", vendor="Acme", product="Chat", model_name="gpt-4.1-mini"),
        "purpose": IdentityFactory(
            name="triage", vendor="", product="", model_name="", purpose="Answers 100% of tickets"
        ),
        "external_id": IdentityFactory(
            name="key-7", vendor="", product="", model_name="", source="aws", external_id="AKIA_EXAMPLE_7"
        ),
        "plain": IdentityFactory(name="plain", vendor="Zeta", product="Thing", model_name="", purpose="x"),
    }


def names(term: str) -> list[str]:
    return sorted(search(Identity.objects.all(), term).values_list("name", flat=True))


def column_by_column(term: str) -> list[str]:
    """What the search meant before the index: Django's icontains on each column, or the id."""
    query = Q()
    for field in SEARCH_FIELDS:
        query |= Q(**{f"{field}__icontains": term.strip()})
    if term.strip().isdigit():
        query |= Q(pk=int(term))
    return sorted(Identity.objects.filter(query).values_list("name", flat=True))


TERMS = {
    # Each column, any case, any part of the value.
    "nightly-b": ["Nightly-Builder"],
    "BUILDER": ["Nightly-Builder"],
    "penA": ["ci-helper"],
    "codex": ["pair-1"],
    "CODEX cli": ["pair-1"],
    "4.1-MIN": ["pair-2"],
    "tickets": ["triage"],
    "akia_example": ["key-7"],
    # Short terms: no trigram, still correct.
    "ac": ["Nightly-Builder", "pair-1", "pair-2"],
    "-7": ["key-7"],
    "z": ["plain"],
    # LIKE's wildcards are plain characters in a search.
    "100%": ["triage"],
    "%": ["triage"],
    "_": ["key-7"],
    "A_E": ["key-7"],
    "k_y": [],
    # A match may not straddle two columns ("Acme" + "Forge", "Zeta" + "Thing"), however joined.
    "acmeforge": [],
    "acme forge": [],
    "zeta thing": [],
    # A term holding the separator is searched column by column (alone, it is blank: stripped).
    f"acme{SEARCH_SEPARATOR}forge": [],
    f"ze{SEARCH_SEPARATOR}ta": [],
    "   ": None,  # blank: no filter at all
    SEARCH_SEPARATOR: None,
}


@pytest.mark.django_db
@pytest.mark.parametrize("term", list(TERMS), ids=repr)
def test_search_finds_the_same_rows_as_column_by_column_icontains(estate, term):
    expected = TERMS[term]
    if expected is None:
        assert names(term) == sorted(Identity.objects.values_list("name", flat=True))
        return
    assert names(term) == expected
    assert names(term) == column_by_column(term)


@pytest.mark.django_db
def test_search_by_id_finds_that_identity_as_well_as_substring_matches(estate):
    target = estate["plain"]
    found = names(str(target.pk))
    assert "plain" in found
    assert found == column_by_column(str(target.pk))
    assert names(f"  {target.pk} ") == found


@pytest.mark.django_db
def test_search_over_the_api_and_the_list_page_agree(estate, api_as, auditor, client):
    api = api_as(auditor).get("/api/v1/identities/?search=CODEX").json()
    assert [row["name"] for row in api["results"]] == ["pair-1"] and api["count"] == 1
    client.force_login(auditor)
    page = client.get("/inventory/?search=CODEX")
    assert [identity.name for identity in page.context["page"].object_list] == ["pair-1"]


def test_the_migration_does_nothing_on_sqlite():
    assert_does_nothing_on_sqlite(migration)


@pytest.mark.django_db
def test_the_migrated_database_has_the_index_only_on_postgresql():
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "inventory_identity")
    assert ("identity_search_trgm" in indexes) == (connection.vendor == "postgresql")


@postgresql_only
@pytest.mark.django_db
def test_the_search_document_is_the_indexed_expression():
    """The index is used only while the query's expression is the migration's, character for character."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'identity_search_trgm'")
        (indexdef,) = cursor.fetchone()
    assert "gin_trgm_ops" in indexdef and "upper(" in indexdef.lower()


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("term", ["codex", "CODEX cli", "akia_example", "100%"])
def test_postgresql_plans_the_search_on_the_trigram_index(estate, term):
    IdentityFactory.create_batch(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_identity")
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = search(Identity.objects.order_by(), term).explain()
    assert "identity_search_trgm" in plan, plan
    # A filter with no index of its own keeps the search on the trigram index.
    plan = search(Identity.objects.order_by().filter(data_classification="internal"), term).explain()
    assert "identity_search_trgm" in plan, plan


@postgresql_only
@pytest.mark.django_db
def test_postgresql_search_by_id_keeps_the_index_and_the_primary_key(estate):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = search(Identity.objects.order_by(), "123").explain()
    assert "identity_search_trgm" in plan and "pkey" in plan, plan


@pytest.mark.django_db
def test_search_runs_one_query(estate, django_assert_num_queries):
    with django_assert_num_queries(1):
        list(search(Identity.objects.all(), "codex"))
    with CaptureQueriesContext(connection) as captured:
        list(search(Identity.objects.all(), "ac"))
    assert len(captured) == 1
