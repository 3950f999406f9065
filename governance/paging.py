"""A paginator that counts in the same pass as it finds the page, for filters that read every match.

Django's Paginator runs two queries: COUNT(*) of the filtered rows, then the page. When the filter
makes the database visit every matching row regardless (a substring search: even through a trigram
index each match is rechecked in the table), those are two full passes over the same rows. Here one
narrow query finds the page's ids and carries `COUNT(*) OVER ()`, and a second fetches those rows
by primary key with whatever the queryset joins (`select_related`): one pass over the matches, and
the joins and wide rows only for the page. Used only where that holds: on an unfiltered list the
page comes from an index in a millisecond, and a window would read the table.

The window is also the first sort key (the same value on every row, so the order is the
queryset's): PostgreSQL 15 costs a window under a LIMIT as if it could stop early, and would
otherwise walk the name index testing every row in name order (0.5 s at 100,000 identities when
the matches sort last) instead of reading the matches from the search index and sorting them.
"""

from __future__ import annotations

import base64
import json

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, F, Window
from django.utils.functional import cached_property


def ordering_of(queryset) -> tuple:
    """The ORDER BY a queryset will use: its own, or its model's default."""
    if queryset.query.order_by:
        return tuple(queryset.query.order_by)
    return tuple(queryset.model._meta.ordering) if queryset.query.default_ordering else ()


class CountedPaginator(Paginator):
    """Django's Paginator, counting `counted` when given. A `.values()` list that joins names in
    (an owner's username, a team's slug) counts the same rows as the plain queryset, but
    PostgreSQL, though it drops the unused LEFT JOINs, then counts by reading the whole table
    instead of the smallest index (61 ms against 10 ms at 100,000 identities, under load)."""

    def __init__(self, object_list, per_page, *args, counted=None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.counted = counted

    @cached_property
    def count(self):
        return self.counted.count() if self.counted is not None else super().count


FARTHEST_OFFSET = 2**62


class OnePassPaginator(CountedPaginator):
    def get_page(self, number):
        """As Paginator.get_page (a bad number shows page 1, one past the end the last page),
        without counting first."""
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return super().get_page(number)

    def page(self, number):
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        bottom = (wanted - 1) * self.per_page
        # Django's own path where it answers without this pass, and for a page no list reaches (an
        # offset past a 64-bit integer is an error in the database; Django finds it past the end).
        if wanted < 1 or self.orphans or "count" in self.__dict__ or bottom > FARTHEST_OFFSET:
            return super().page(wanted)
        queryset = self.object_list
        plain = self.counted if self.counted is not None else queryset  # the ids need no joins
        narrow = (
            plain.annotate(_one_pass_total=Window(Count("pk")))
            .order_by(F("_one_pass_total").asc(), *ordering_of(plain))
            .values_list("pk", "_one_pass_total")[bottom : bottom + self.per_page]
        )
        found = list(narrow)
        if not found:  # past the end, or nothing matches: the plain count decides what to show
            return super().page(wanted)
        self.__dict__["count"] = found[0][1]  # Paginator.count is a cached_property
        ids = [pk for pk, _total in found]
        attname = queryset.model._meta.pk.attname  # rows of `.values()` are dicts
        by_id = {
            row[attname] if isinstance(row, dict) else row.pk: row
            for row in queryset.order_by().filter(pk__in=ids)
        }
        return self._get_page([by_id[pk] for pk in ids if pk in by_id], wanted, self)


class GroupsPaginator(Paginator):
    """Pages of a list ordered by groups first (live credentials, then revoked ones), each group in an
    order an index can give: PostgreSQL cannot read `ORDER BY revoked_at NULLS FIRST, identity name`
    from any index, so every page joined and sorted every row (340 ms at 150,000 credentials), while
    the live group alone, `WHERE revoked_at IS NULL ORDER BY identity name`, pages from the identities'
    name index in a millisecond. `groups`: (condition, ordering) pairs in the list's order, whose
    conditions split the list with no row in two; the rows and pages are those of the list ordered as
    a whole. A group is counted only when a page starts after its first row. The groups are read by
    separate statements, as a count and its page are: a row that moves from one group to the other
    meanwhile (a credential revoked) can show twice or not at all on that page."""

    def __init__(self, object_list, per_page, *args, groups, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.groups = groups

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows: list = []
        skip = bottom  # rows of the list before the page that are still to pass over
        last = len(self.groups) - 1
        for index, (condition, ordering) in enumerate(self.groups):
            if len(rows) >= top - bottom:
                break
            part = self.object_list.filter(condition).order_by(*ordering)
            if skip and index < last:  # the page starts inside this group or past it: its size says which
                size = part.count()
                if skip >= size:
                    skip -= size
                    continue
            rows += part[skip : skip + top - bottom - len(rows)]
            skip = 0
        return self._get_page(rows, number, self)


class BadCursor(ValueError):
    """A cursor this list did not give out (edited, truncated, or from another list)."""


class KeysetPage(list):
    """One page read after or before a key: the rows, and the keys to read on from, if any."""

    def __init__(self, rows, *, next_key=None, previous_key=None):
        super().__init__(rows)
        self.next_key, self.previous_key = next_key, previous_key


def encode_cursor(direction: str, key: str) -> str:
    """Opaque to clients: base64url of {"after"|"before": key}."""
    raw = json.dumps({direction: key}, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str] | None:
    """("after" | "before", key), or None for the empty cursor (the first page)."""
    if not cursor:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise BadCursor(str(exc)) from None
    if not isinstance(position, dict) or len(position) != 1:
        raise BadCursor("not a position")
    ((direction, key),) = position.items()
    if direction not in ("after", "before") or not isinstance(key, str) or "\x00" in key:
        raise BadCursor("not a position")
    return direction, key


def keyset_page(queryset, key: str, size: int, position: tuple[str, str] | None, *, fence=False):
    """`size` rows of `queryset` in `key` order (a unique, non-null column) after or before a key:
    a range of the key's index, one query, no count, however deep the page.

    `fence` sorts by the key with NULLS FIRST (ascending; LAST descending): the same order on a
    non-null column, one its b-tree index cannot give, so the planner reads the matches of a
    selective filter (a search index) and sorts them instead of walking the whole key index."""
    direction, value = position or ("after", None)
    column = F(key)
    if direction == "after":
        order = column.asc(nulls_first=True) if fence else column.asc()
        rows = queryset.filter(**{f"{key}__gt": value}) if value is not None else queryset
    else:
        order = column.desc(nulls_last=True) if fence else column.desc()
        rows = queryset.filter(**{f"{key}__lt": value})
    rows = list(rows.order_by(order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if direction == "before":
        rows.reverse()
    first = _value(rows[0], key) if rows else None
    last = _value(rows[-1], key) if rows else None
    if direction == "after":
        return KeysetPage(
            rows, next_key=last if more else None, previous_key=first if value is not None else None
        )
    return KeysetPage(rows, next_key=last, previous_key=first if more else None)


def _value(row, key: str):
    return row[key] if isinstance(row, dict) else getattr(row, key)
