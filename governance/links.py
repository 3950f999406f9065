"""Links to Steward's own pages, by URL name (never a path written out), with an optional query and
fragment: `link("exceptions", query={"identity": 4})` → `/exceptions/?identity=4`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from django.urls import reverse


def link(
    name: str,
    *args,
    query: Mapping[str, object] | Sequence[tuple[str, object]] | None = None,
    fragment: str = "",
) -> str:
    url = reverse(name, args=args)
    if query:
        url += "?" + urlencode(query)
    if fragment:
        url += "#" + fragment
    return url
