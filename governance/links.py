"""Links to Steward's own pages, by URL name (never a path written out), with an optional query and
fragment: `link("exceptions", query={"identity": 4})` → `/exceptions/?identity=4`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlencode

from django.conf import settings
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


def absolute(url: str) -> str:
    """A link as someone outside the browser session follows it (an email, a chat message, a signed
    document): on `STEWARD_BASE_URL`, never on a request's Host header. A full URL is left as it is."""
    if url.startswith(("http://", "https://")):
        return url
    return settings.STEWARD_BASE_URL.rstrip("/") + url


_ID_MARK = 987654321  # stands for the id while a page's link is reversed once


def id_links(name: str) -> Callable[[object], str]:
    """`link(name, pk)` for many ids, reversed once: a list whose every row links to its own page.
    `reverse()` per row was a twentieth of the inventory page's time (bench/README.md). A slug
    argument works too (the stand-in is digits, which a slug accepts): the dashboard's cards."""
    prefix, suffix = link(name, _ID_MARK).split(str(_ID_MARK))
    return lambda pk: f"{prefix}{pk}{suffix}"
