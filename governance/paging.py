"""A paginator that counts in the same pass as it reads the page, for filters that scan anyway.

Django's Paginator runs two queries: COUNT(*) of the filtered rows, then the page. When the filter
makes the database read every candidate row regardless (a substring search over several columns,
which no b-tree index serves), those are two full passes over the same rows. Here the page query
carries `COUNT(*) OVER ()`, so one pass gives the rows and the total. Used only where that holds: on
an unfiltered list the page comes from an index in a millisecond, and a window would read the table.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, Window


class OnePassPaginator(Paginator):
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
        if wanted < 1 or self.orphans or "count" in self.__dict__:
            return super().page(wanted)
        bottom = (wanted - 1) * self.per_page
        counted = self.object_list.annotate(_one_pass_total=Window(Count("pk")))
        rows = list(counted[bottom : bottom + self.per_page])
        if not rows:  # past the end, or nothing matches: the plain count decides what to show
            return super().page(wanted)
        self.__dict__["count"] = rows[0]._one_pass_total  # Paginator.count is a cached_property
        return self._get_page(rows, wanted, self)
