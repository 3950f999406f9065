"""OnePassPaginator: the same pages, counts and edge cases as Django's Paginator, in one pass."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.paging import OnePassPaginator
from inventory.models import Identity
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    for n in range(23):
        IdentityFactory(name=f"codex-{n:02d}" if n % 2 else f"other-{n:02d}")
    return Identity.objects.filter(name__icontains="codex").order_by("name", "pk")


@pytest.mark.parametrize("number", [None, "", "x", 1, 2, 3, 4, 99, 0, -1, "2"])
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
