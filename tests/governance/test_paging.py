"""OnePassPaginator: the same pages, counts and edge cases as Django's Paginator, in one pass."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Case, Q, Value, When
from django.test.utils import CaptureQueriesContext

from governance.paging import GroupsPaginator, OnePassPaginator
from inventory.models import Identity
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    for n in range(23):
        IdentityFactory(name=f"codex-{n:02d}" if n % 2 else f"other-{n:02d}")
    return Identity.objects.filter(name__icontains="codex").order_by("name", "pk")


@pytest.mark.parametrize("number", [None, "", "x", 1, 2, 3, 4, 99, 0, -1, "2", 10**30, str(2**63)])
def test_pages_equal_djangos(rows, number):
    mine = OnePassPaginator(rows, 5).get_page(number)
    theirs = Paginator(rows, 5).get_page(number)
    assert [i.pk for i in mine] == [i.pk for i in theirs]
    assert (mine.number, mine.paginator.count, mine.paginator.num_pages) == (
        theirs.number,
        theirs.paginator.count,
        theirs.paginator.num_pages,
    )
    assert mine.has_next() == theirs.has_next() and mine.has_previous() == theirs.has_previous()


def test_a_page_and_its_count_take_one_pass_then_the_pages_rows_by_id(rows):
    with CaptureQueriesContext(connection) as queries:
        page = OnePassPaginator(rows, 5).get_page(2)
        assert page.paginator.count == 11 and len(page.object_list) == 5
    assert len(queries) == 2 and "OVER ()" in queries[0]["sql"] and "COUNT" not in queries[1]["sql"]


def test_nothing_matching_is_an_empty_first_page(rows):
    page = OnePassPaginator(rows.filter(name="none"), 5).get_page(1)
    assert page.paginator.count == 0 and list(page.object_list) == []


# ---------------------------------------------------------------- pages of groups


@pytest.fixture
def grouped():
    """Identities listed suspended first, then the rest by name: two groups, each by name."""
    for n in range(23):
        IdentityFactory(name=f"id-{(n * 7) % 23:02d}", status="suspended" if n % 3 == 0 else "active")
    whole = Identity.objects.order_by(
        Case(When(status="suspended", then=Value(0)), default=Value(1)), "name", "pk"
    )
    groups = ((Q(status="suspended"), ("name", "pk")), (~Q(status="suspended"), ("name", "pk")))
    return whole, groups


@pytest.mark.parametrize("size,orphans", [(5, 0), (4, 0), (8, 0), (5, 2), (30, 0), (1, 0)])
def test_group_pages_equal_the_whole_lists_pages(grouped, size, orphans):
    whole, groups = grouped
    theirs = Paginator(whole, size, orphans=orphans)
    mine = GroupsPaginator(whole, size, orphans=orphans, groups=groups)
    assert mine.num_pages == theirs.num_pages
    for number in [*theirs.page_range, "x", 99, None]:
        ours, expected = mine.get_page(number), theirs.get_page(number)
        assert [i.pk for i in ours] == [i.pk for i in expected], (size, number)
        assert (ours.number, ours.has_next(), ours.start_index()) == (
            expected.number,
            expected.has_next(),
            expected.start_index(),
        )


def test_a_group_is_counted_only_when_a_page_starts_after_its_first_row(grouped):
    whole, groups = grouped  # 8 suspended, 15 active
    runs = []
    for number in (1, 2, 4):  # rows 1-5 (suspended); 6-10 (3 suspended, 2 active); 16-20 (active)
        with CaptureQueriesContext(connection) as run:
            GroupsPaginator(whole, 5, groups=groups).get_page(number)
        runs.append([q["sql"] for q in run if "COUNT(" in q["sql"]])
    assert [len(counts) for counts in runs] == [1, 2, 2]  # the list's own count, and the group's
    assert "suspended" in runs[2][1] and "NOT" not in runs[2][1]  # past the first group: its size
    assert all(len(queries) for queries in runs)


def test_an_empty_list_and_empty_groups_page_as_djangos(grouped):
    whole, groups = grouped
    for rows in (whole.none(), whole.filter(status="active"), whole.filter(status="suspended")):
        for number in (1, 2, 3, 4, "x", 99):
            ours = GroupsPaginator(rows, 5, groups=groups).get_page(number)
            theirs = Paginator(rows, 5).get_page(number)
            assert [i.pk for i in ours] == [i.pk for i in theirs] and ours.number == theirs.number
