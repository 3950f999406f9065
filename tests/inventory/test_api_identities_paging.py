"""identities/ API lists (issue 23): the default pages with an exact count are unchanged; a cursor
mode without a count walks the same rows; `fields` trims each row; both take a fixed number of queries."""

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.serializers import IdentitySerializer
from tests.factories import IdentityFactory

LIST = "/api/v1/identities/"


@pytest.fixture
def estate(db, owner, owner2):
    """23 identities: bots and keys, a few mentioning "codex", names that sort with care."""
    rows = []
    for n in range(23):
        rows.append(
            IdentityFactory(
                name=f"{'Agent' if n % 3 else 'agent'}-{n:02d}",
                kind="bot" if n % 2 else "api_key",
                owner=owner if n % 4 else owner2,
                product="Codex" if n % 5 == 0 else "Claude Code",
            )
        )
    return rows


@pytest.fixture
def client(api_as, auditor):
    return api_as(auditor)


def walk(client, url: str, link: str = "next") -> list[dict]:
    """Every row, following `link` from `url` until there is none."""
    rows, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        rows.extend(body["results"])
        url = body[link]
        pages += 1
        assert pages < 50
    return rows


def paged(client, query: str) -> list[dict]:
    return walk(client, f"{LIST}?page_size=5&{query}")


@pytest.mark.django_db
def test_the_default_list_keeps_its_exact_count_and_page_links(client, estate):
    body = client.get(f"{LIST}?page_size=5").json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 23 and len(body["results"]) == 5 and "page=2" in body["next"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["", "kind=bot", "search=codex", "kind=api_key&search=AGENT-0", "owner=owner2"]
)
def test_walking_the_cursor_pages_gives_the_paged_list(client, estate, query):
    expected = paged(client, query)
    first = client.get(f"{LIST}?cursor=&page_size=5&{query}").json()
    assert list(first) == ["next", "previous", "results"] and first["previous"] is None
    rows = walk(client, f"{LIST}?cursor=&page_size=5&{query}")
    assert rows == expected
    assert len({row["id"] for row in rows}) == len(rows)


@pytest.mark.django_db
def test_walking_back_from_the_last_cursor_page_gives_the_list_reversed(client, estate):
    url, pages = f"{LIST}?cursor=&page_size=4&kind=bot", []
    while url:
        body = client.get(url).json()
        pages.append([row["name"] for row in body["results"]])
        url = body["next"]
    backwards, url = [], client.get(f"{LIST}?cursor=&page_size=4&kind=bot").json()["next"]
    while True:  # to the last page, then back along `previous`
        body = client.get(url).json()
        if not body["next"]:
            break
        url = body["next"]
    while url:
        body = client.get(url).json()
        backwards.append([row["name"] for row in body["results"]])
        url = body["previous"]
    assert backwards == pages[::-1]


@pytest.mark.django_db
def test_cursor_links_keep_the_filters_and_page_size(client, estate):
    body = client.get(f"{LIST}?cursor=&page_size=3&kind=bot&search=agent").json()
    assert "kind=bot" in body["next"] and "search=agent" in body["next"] and "page_size=3" in body["next"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "not-base64!",
        _b64("not json"),
        _b64("[1, 2]"),
        _b64('{"after": 5}'),
        _b64('{"sideways": "a"}'),
        _b64('{"after": "a", "before": "b"}'),
        _b64('{"after": "a\\u0000b"}'),  # a raw NUL never gets this far (RefuseNulMiddleware)
    ],
)
def test_a_bad_cursor_is_a_400_naming_cursor(client, estate, cursor):
    response = client.get(LIST, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["cursor=&page=2", "cursor=&ordering=-name"])
def test_cursor_mode_refuses_page_numbers_and_other_orders(client, estate, query):
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 400 and "cursor" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["", "cursor=&"])
def test_fields_returns_only_those_fields_in_the_usual_order(client, estate, mode):
    body = client.get(f"{LIST}?{mode}fields=status, name,id&page_size=3").json()
    assert [list(row) for row in body["results"]] == [["id", "name", "status"]] * 3
    full = client.get(f"{LIST}?{mode}page_size=3").json()["results"]
    assert body["results"] == [{k: row[k] for k in ("id", "name", "status")} for row in full]


@pytest.mark.django_db
def test_every_field_can_be_asked_for(client, estate):
    every = ",".join(IdentitySerializer.Meta.fields)
    trimmed = client.get(f"{LIST}?fields={every}&page_size=2").json()
    assert trimmed["results"] == client.get(f"{LIST}?page_size=2").json()["results"]


@pytest.mark.django_db
@pytest.mark.parametrize("fields", ["id,password,nme", "", ","])
def test_unknown_fields_are_a_400_with_a_message_per_field(client, estate, fields):
    response = client.get(LIST, {"fields": fields})
    assert response.status_code == 400
    messages = response.json()["fields"]
    if fields.startswith("id"):
        assert messages == ["Unknown field: 'password'.", "Unknown field: 'nme'."]
    else:
        assert len(messages) == 1


def _queries(client, url: str) -> int:
    client.get(url)  # the user's roles are read once and kept on the (force-authenticated) user
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    for query in captured:  # counting through the names' joins makes PostgreSQL read the table
        assert "COUNT(" not in query["sql"] or " JOIN " not in query["sql"], query["sql"]
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,expected",
    [
        ("", 2),  # count, page
        ("search=agent", 2),  # the page's ids with the count in one pass, then those rows
        ("cursor=", 1),  # the page alone
        ("cursor=&search=agent&fields=id,name", 1),
    ],
)
def test_a_list_takes_a_fixed_number_of_queries_whatever_the_page_size(client, estate, query, expected):
    """Queries of the list itself (force_authenticate adds none); the same at 2 rows and at 20."""
    small = _queries(client, f"{LIST}?page_size=2&{query}")
    large = _queries(client, f"{LIST}?page_size=20&{query}")
    assert small == large == expected


@pytest.mark.django_db
def test_the_schema_documents_cursor_mode_and_fields(client):
    schema = client.get("/api/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/identities/"]["get"]["parameters"]}
    assert {"page", "page_size", "cursor", "fields", "search"} <= set(parameters)
    assert "without `count`" in parameters["cursor"]["description"]
    page = schema["components"]["schemas"]["PaginatedIdentityList"]
    assert page["required"] == ["results"] and "cursor mode" in page["properties"]["count"]["description"]


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["", "risk_tier", "-last_used_at", "owner", "-team", "-name"])
def test_rows_read_as_plain_values_equal_the_generic_serializer_in_every_order(
    client, estate, owner, owner2, ordering
):
    """The list reads plain values rather than model instances; every row and the order must be
    what the generic serializer and the filter's ordering give."""
    from django.utils import timezone

    from inventory.filters import IdentityFilter, base_queryset

    IdentityFactory(name="unowned", owner=None, team=None, risk_tier="critical", status="discovered")
    IdentityFactory(name="shared", owner=owner, backup_owner=owner2, last_used_at=timezone.now())
    body = client.get(f"{LIST}?page_size=100&ordering={ordering}").json()
    ids = [row["id"] for row in body["results"]]
    expected = IdentityFilter({"ordering": ordering}, queryset=base_queryset().order_by("name")).qs
    assert ids == [identity.pk for identity in expected]
    assert body["results"] == IdentitySerializer(expected, many=True).data
