"""No page of Steward is written out as a path, in Python or in a template: links come from URL names
(`governance.links.link`, `reverse`, `get_absolute_url`), so a moved URL cannot leave a stale link
behind. Matching a request's path against a prefix (middleware) is not a link and stays a string."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from django.urls import get_resolver

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("governance", "inventory", "approvals", "connectors", "workload", "chat", "config")


def _first_segments(patterns, prefix: str = "") -> set[str]:
    found = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            found |= _first_segments(pattern.url_patterns, route)
        elif route.split("/")[0]:
            found.add(route.split("/")[0])
    return found


@cache
def page() -> re.Pattern:
    """A path under any of the URLconf's top-level segments (/inventory/, /api/, /scim/, /.well-known/…):
    read from the URLconf, so a new app's pages are covered without naming them here."""
    segments = sorted(_first_segments(get_resolver().url_patterns))
    alternatives = "|".join(re.escape(segment) for segment in segments)
    return re.compile(rf"^/({alternatives})([/?#]|$)")


# Request-path matching, not links: the middleware's prefix tables and the settings' login pages.
NOT_LINKS = {"config/settings.py"}
PREFIX_TABLE = re.compile(r"(PREFIXES|POSTS)$")


def _page_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "startswith"
        ):
            skip.update(id(n) for arg in node.args for n in ast.walk(arg))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and PREFIX_TABLE.search(t.id) for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node.value))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            skip.update(id(n) for n in node.values)
            text = str(node.values[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if page().match(text):
            found.append((node.lineno, text))
    return found


def test_no_page_path_is_written_out_in_python():
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts or str(rel) in NOT_LINKS:
                continue
            found += [f"{rel}:{line}: {text!r}" for line, text in _page_literals(path)]
    assert not found, "link by URL name (governance.links.link) instead of:\n" + "\n".join(found)


# A link in a template's attribute, in either quotes: href, action, formaction, src, the htmx verbs and
# any data-* attribute a script reads a URL from.
TEMPLATE_LINK = re.compile(
    r"""\b(?:href|action|formaction|src|hx-(?:get|post|put|patch|delete)|data-[\w-]+)=(["'])(/[^"']*)\1"""
)


def _template_links(path: Path) -> list[str]:
    return [url for _quote, url in TEMPLATE_LINK.findall(path.read_text()) if page().match(url)]


def test_no_page_path_is_written_out_in_a_template():
    found = [
        f"{path.relative_to(ROOT)}: {url}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for url in _template_links(path)
    ]
    assert not found, "link with {% url %} or the object's get_absolute_url instead of:\n" + "\n".join(found)


def test_the_template_check_sees_a_written_out_path(tmp_path):
    sample = tmp_path / "sample.html"
    sample.write_text(
        '<a href="/inventory/?mine=true">x</a><div hx-get="/dashboard/card/trends/"></div>'
        '<a href="{% url \'findings\' %}">ok</a><img src="/static/logo.svg">'
        "<canvas data-trends-url='/dashboard/trends.json?days=7'></canvas><button formaction=\"/reviews/\">"
    )
    assert _template_links(sample) == [
        "/inventory/?mine=true",
        "/dashboard/card/trends/",
        "/dashboard/trends.json?days=7",
        "/reviews/",
    ]


def test_the_check_sees_a_written_out_path(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'A = f"/exceptions/{pk}/"\nB = "/inventory/"\nOK = request.path.startswith("/api/")\n'
        'EXEMPT_PREFIXES = ("/evidence/",)\n'
    )
    assert sorted(text for _line, text in _page_literals(sample)) == ["/exceptions/", "/inventory/"]


def test_every_top_level_segment_of_the_urlconf_counts_as_a_page():
    for path in ("/workload/", "/scim/v2", "/.well-known/jwks.json", "/api/v1/identities/", "/lists/"):
        assert page().match(path), path
    assert not page().match("/static/app.css") and not page().match("/inventorying/")


def test_a_link_reversed_once_for_many_ids_is_the_link_of_each():
    from governance.links import id_links, link

    page = id_links("inventory:detail")
    for pk in (1, 42, 987654321, 2**63 - 1):
        assert page(pk) == link("inventory:detail", pk)


def test_each_row_of_the_inventory_links_to_its_identity(db, client, iam):
    from tests.factories import IdentityFactory

    identities = [IdentityFactory(name=f"row-{n}") for n in range(3)]
    client.force_login(iam)
    html = client.get("/inventory/").content.decode()
    for identity in identities:
        assert (
            f'href="{identity.get_absolute_url()}" class="fw-semibold" id="identity-name-{identity.pk}"'
            in html
        )
