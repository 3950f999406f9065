"""The narrow search table (migration inventory.0014, issue 23): on PostgreSQL triggers keep one row per
identity with its name and searched text, in the writing transaction; a search that is a list's only
filter counts and pages from it, with the same rows, count and order as searching the identities."""

import importlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory import api
from inventory.filters import SEARCH_SEPARATOR, search, search_only, search_rows
from inventory.models import Identity, IdentitySearchRow
from inventory.views import identities
from tests.factories import IdentityFactory
from tests.inventory.migration_support import assert_does_nothing_on_sqlite

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the search table is PostgreSQL's"
)
migration = importlib.import_module("inventory.migrations.0014_identity_search_rows")
SEP = SEARCH_SEPARATOR


def in_step() -> None:
    """Every identity has exactly its row: the same name and joined text."""
    expected = {
        pk: (name, SEP.join([name, vendor, product, model_name, purpose, external_id]))
        for pk, name, vendor, product, model_name, purpose, external_id in Identity.objects.values_list(
            "pk", "name", "vendor", "product", "model_name", "purpose", "external_id"
        )
    }
    rows = {
        pk: (name, document)
        for pk, name, document in IdentitySearchRow.objects.values_list("pk", "name", "document")
    }
    assert rows == expected


def test_the_migration_does_nothing_on_sqlite():
    assert_does_nothing_on_sqlite(migration)


@postgresql_only
@pytest.mark.django_db
def test_the_rows_follow_every_insert_update_and_delete(owner):
    in_step()
    one = IdentityFactory(name="Alpha", vendor="Acme", product="Forge", purpose="builds")
    Identity.objects.bulk_create([Identity(name=f"bulk-{n}", kind="bot", vendor="Zeta") for n in range(30)])
    in_step()
    one.product = "Codex CLI"
    one.save()  # every column: the row trigger fires, the text changes
    Identity.objects.filter(name__startswith="bulk-1").update(vendor="OpenAI", model_name="gpt")
    Identity.objects.filter(name="bulk-2").update(name="renamed-2")
    in_step()
    batch = list(Identity.objects.filter(name__startswith="bulk-4"))
    for n, identity in enumerate(batch):
        identity.external_id, identity.purpose = f"ext-{n}", "imported"
    Identity.objects.bulk_update(batch, ["external_id", "purpose"])  # the importer's way
    in_step()
    Identity.objects.filter(name__startswith="bulk-2").update(status="suspended")  # not searched
    Identity.objects.filter(name__startswith="bulk-3").delete()
    in_step()
    try:
        with transaction.atomic():
            IdentityFactory(name="rolled back")
            Identity.objects.filter(pk=one.pk).update(vendor="Gone")
            in_step()  # the transaction sees its own rows
            raise RuntimeError
    except RuntimeError:
        pass
    in_step()
    assert IdentitySearchRow.objects.get(pk=one.pk).document == SEP.join(
        ["Alpha", "Acme", "Codex CLI", one.model_name, "builds", one.external_id]
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_emptying_the_identities_empties_the_rows():
    IdentityFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE inventory_identity CASCADE")
    assert not IdentitySearchRow.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "term"),
    [
        ({"search": " codex "}, "codex"),
        ({"search": "codex", "page": "2", "page_size": "5", "fields": "id"}, "codex"),
        ({"search": "codex", "kind": "bot"}, ""),
        ({"search": "codex", "ordering": "name"}, ""),
        ({"search": "codex", "status": ""}, ""),
        ({"kind": "bot"}, ""),
        ({}, ""),
    ],
)
def test_only_a_search_alone_is_a_search_only(params, term):
    assert search_only(params) == term


@pytest.mark.django_db
def test_no_search_table_where_it_would_not_give_the_same_rows():
    assert search_rows("") is None
    assert search_rows(f"acme{SEP}forge") is None  # searched column by column
    if connection.vendor != "postgresql":
        assert search_rows("codex") is None


TERMS = ["codex", "CODEX cli", "acme", "100%", "%", "_", "A_E", "k_y", "acmeforge", "ac", "z", "-7"]


@pytest.fixture
def estate(db):
    IdentityFactory(name="Nightly-Builder", vendor="Acme", product="Forge", model_name="")
    IdentityFactory(name="ci-helper", vendor="OpenAI", product="Runner", model_name="")
    IdentityFactory(name="pair-1", vendor="Acme", product="Codex CLI", model_name="")
    IdentityFactory(name="pair-2", vendor="Acme", product="Chat", model_name="gpt-4.1-mini")
    IdentityFactory(name="triage", vendor="", product="", model_name="", purpose="Answers 100% of tickets")
    IdentityFactory(name="key-7", vendor="", product="", model_name="", external_id="AKIA_EXAMPLE_7")
    for n in range(12):
        IdentityFactory(name=f"codex-{n:02}", vendor="OpenAI", product="Codex")


@postgresql_only
@pytest.mark.parametrize("term", [*TERMS, "id"])
def test_the_rows_name_the_identities_search_finds_in_the_same_order(estate, term):
    if term == "id":
        term = str(Identity.objects.get(name="triage").pk)
    found = list(search(Identity.objects.order_by("name", "pk"), term).values_list("pk", flat=True))
    assert list(search_rows(term).values_list("pk", flat=True)) == found
    assert search_rows(term).count() == len(found)


COUNTS = {"search=codex": 13, "search=codex&page=3&page_size=5": 13, "search=ACME": 3, "search=nothing": 0}


@postgresql_only
@pytest.mark.parametrize("query", list(COUNTS))
def test_the_api_pages_a_search_from_the_rows_with_the_same_answer(
    estate, api_as, auditor, query, monkeypatch
):
    client = api_as(auditor)
    client.get(f"/api/v1/identities/?{query}")  # the user's roles are read once
    with CaptureQueriesContext(connection) as captured:
        fast = client.get(f"/api/v1/identities/?{query}").json()
    assert "inventory_identity_search" in " ".join(q["sql"] for q in captured)
    monkeypatch.setattr(api, "search_rows", lambda term: None)  # as before the table: from the identities
    slow = client.get(f"/api/v1/identities/?{query}").json()
    monkeypatch.setattr(api, "search_only", lambda params: "")  # and through the filter set
    filtered = client.get(f"/api/v1/identities/?{query}").json()
    assert fast == slow == filtered
    assert fast["count"] == COUNTS[query]


@pytest.mark.parametrize("query", ["search=codex", "search=%20codex%20", "search=CODEX&page_size=5&page=2"])
def test_a_search_alone_answers_as_the_filter_set_does(estate, api_as, auditor, query, monkeypatch):
    """The API applies a search alone without building the filter set (its sixteen filters and form
    were a quarter of the request): the same answer on every database."""
    client = api_as(auditor)
    direct = client.get(f"/api/v1/identities/?{query}").json()
    monkeypatch.setattr(api, "search_only", lambda params: "")
    assert client.get(f"/api/v1/identities/?{query}").json() == direct
    assert direct["count"] == 13


@postgresql_only
@pytest.mark.parametrize("page", ["1", "2", "3", "9"])
def test_the_list_page_pages_a_search_from_the_rows_with_the_same_rows(
    estate, client, auditor, monkeypatch, page
):
    monkeypatch.setattr(identities, "PAGE_SIZE", 5)  # 13 matches: three pages, the last one short
    client.force_login(auditor)
    with CaptureQueriesContext(connection) as captured:
        fast = client.get(f"/inventory/?search=codex&page={page}")
    assert "inventory_identity_search" in " ".join(q["sql"] for q in captured)
    monkeypatch.setattr(identities, "search_rows", lambda term: None)
    slow = client.get(f"/inventory/?search=codex&page={page}")
    names = [[i.name for i in response.context["page"].object_list] for response in (fast, slow)]
    assert names[0] == names[1] and names[0]
    assert fast.context["page"].number == slow.context["page"].number == min(int(page), 3)
    assert fast.context["page"].paginator.count == slow.context["page"].paginator.count == 13


@pytest.mark.django_db
def test_filters_that_do_not_validate_list_nothing_without_reading_the_rows(estate, rf, auditor):
    """A search holding NUL (a bulk reassignment's posted filters can carry one) does not validate:
    the list is empty, and the search table is not asked (PostgreSQL cannot compare NUL)."""
    from django.http import QueryDict

    request = rf.get("/inventory/")
    request.user = auditor
    with CaptureQueriesContext(connection) as captured:
        context = identities.list_context(request, QueryDict("search=a%00b"))
    assert list(context["page"].object_list) == [] and context["page"].paginator.count == 0
    assert "inventory_identity_search" not in " ".join(q["sql"] for q in captured)


@postgresql_only
def test_other_filters_and_an_owners_own_order_page_from_the_identities(
    estate, client, api_as, auditor, owner
):
    """With another filter the identity rows are read anyway; a tool owner sees their own first."""
    Identity.objects.filter(name="codex-05").update(owner=owner)
    with CaptureQueriesContext(connection) as captured:
        body = api_as(auditor).get("/api/v1/identities/?search=codex&kind=bot").json()
        client.force_login(owner)
        page = client.get("/inventory/?search=codex")
    assert "inventory_identity_search" not in " ".join(q["sql"] for q in captured)
    assert body["count"] == Identity.objects.filter(kind="bot", product__icontains="codex").count()
    assert page.context["page"].object_list[0].name == "codex-05"
