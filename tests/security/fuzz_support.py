"""Hostile input for the fuzzers: hypothesis strategies, the OpenAPI schema, forms found on pages, and
an estate with something behind every page.

The shapes come from issue 18's hostile test: deep nesting, huge and negative integers, confusable
Unicode and long strings. `make test` draws a few examples per target (STEWARD_FUZZ_EXAMPLES,
default 5); `make fuzz` many more.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("STEWARD_FUZZ_EXAMPLES", "5"))

HUGE_INTEGERS = [10**30, 2**63, 2**64, 2**63 - 1, 2**31, -1, 0, -(2**63) - 1, -(10**30), 10**4000]
CONFUSABLES = [
    "²",  # str.isdigit() says yes, int() says no
    "١٢٣",  # Arabic-Indic digits: int() takes them
    "１２３",  # fullwidth digits
    "Ⅻ",
    "ａｄｍｉｎ",
    "аdmin",  # Cyrillic a
    "İ",  # lowercases to two characters
    "ß",
    "ﬁ",
    "K",  # Kelvin sign
    "\u202eevil",  # right-to-left override
    "zero\u200bwidth",
    "e\u0301",
    "🦜",
    "\x00",
    "\r\nX-Injected: 1",
    "%00",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "＝cmd|' /C calc'!A0",
    "..\\..\\etc",
    "NaN",
    "Infinity",
    "1e400",
    "-0",
    "0x10",
    "1_000",
    " 7 ",
    "",
]
LONG = [n * c for n in (256, 1_001, 10_000, 100_000) for c in ("A", "é", "😀")]
# JSON texts no schema describes: too deep, out of range, not finite, not balanced.
RAW_JSON = [
    "[" * 5000 + "]" * 5000,
    "[" * 65 + "]" * 65,
    '{"a":' * 200 + "1" + "}" * 200,
    "[" * 100_000,
    '{"identity": 1e400}',
    "[1e400]",
    "NaN",
    "1" * 5000,
    '{"identity": ' + "9" * 4000 + "}",
    '"' + "\\u0000" * 10 + '"',
    "",
    "{",
]

scalars = st.one_of(
    st.sampled_from(HUGE_INTEGERS),
    st.sampled_from(CONFUSABLES),
    st.sampled_from(LONG),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# NUL: PostgreSQL text cannot hold it. JSON refuses it (governance.safe_json) and a request filter
# (governance.middleware.RefuseNulMiddleware) refuses it in paths, query strings and form fields.
NUL = "\x00"
# Form and query values are text: the same shapes, as a browser would send them.
texts = st.one_of(
    st.sampled_from(HUGE_INTEGERS).map(str),
    st.sampled_from(CONFUSABLES),
    st.sampled_from(LONG),
    st.sampled_from(RAW_JSON[:4]),
    st.text(max_size=12),  # hypothesis leaves out surrogates, which no browser can send
)
# Each of these in every field at once, before the random draws: the shapes of the report, sent
# to every target whatever the number of examples.
SWEEP = [10**30, 2**63, -1, "²", "１２", NUL, LONG[-3], "[" * 5000 + "]" * 5000]
hostile_ids = st.sampled_from([str(n) for n in (10**30, 2**63, -1, 0)] + ["²", "１２", "x" * 300])


# ---------------------------------------------------------------- the API's operations


def openapi() -> dict:
    """The schema exactly as /api/schema/ serves it, built in-process at collection time."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: tuple[str, ...]
    body: tuple[str, ...]
    body_is_list: bool

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def operations(schema: dict) -> list[Operation]:
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            query = tuple(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
            content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            body_schema = _resolve(schema, content.get("schema", {})) if content else {}
            is_list = body_schema.get("type") == "array"
            if is_list:
                body_schema = _resolve(schema, body_schema.get("items", {}))
            found.append(Operation(method, path, query, tuple(body_schema.get("properties", {})), is_list))
    return found


# ---------------------------------------------------------------- forms on pages


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> values the page offers

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.action} {sorted(self.fields)}"


class _FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.fragments: set[str] = set()
        self.links: dict[str, Form] = {}  # links with a query string are forms too (?campaign=3)
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        for attribute in ("hx-get",):
            if a.get(attribute, "").startswith("/"):
                self.fragments.add(a[attribute])
        if tag == "a" and a.get("href", "").startswith("/") and "?" in a["href"]:
            url = urlsplit(a["href"])
            link = self.links.setdefault(url.path, Form("get", url.path))
            for name, value in parse_qsl(url.query, keep_blank_values=True):
                link.fields.setdefault(name, []).append(value)
        if tag == "form":
            method = (a.get("method") or ("post" if "hx-post" in a else "get")).lower()
            action = a.get("hx-post") or a.get("action") or self.page_url
            self._form = Form(method, action if action.startswith("/") else self.page_url)
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select", "button") and a.get("name"):
            values = self._form.fields.setdefault(a["name"], [])
            if a.get("value"):
                values.append(a["value"])
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._form is not None and self._select and a.get("value"):
            self._form.fields[self._select].append(a["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_on(page_url: str, html: str) -> tuple[list[Form], set[str]]:
    """The forms on a page (own-site actions only; links with a query string count as forms),
    and the htmx fragments it loads."""
    parser = _FormParser(page_url)
    parser.feed(html)
    forms = [f for f in [*parser.forms, *parser.links.values()] if not urlsplit(f.action).netloc and f.fields]
    return forms, parser.fragments


# ---------------------------------------------------------------- an estate behind every page


def build_estate():
    """Demo people and identities, plus a review campaign, an exception, an intake request, an
    ownership transfer and a Cedar test case, so that pages with an id have something to show."""
    from django.utils import timezone

    from approvals.services import intake as intake_services
    from governance.demo import seed_people
    from governance.exceptions.services import request_exception
    from governance.people.models import Role
    from governance.reviews.services import launch_campaign
    from inventory.demo import build_estate as build_identities
    from inventory.models import Identity
    from inventory.ownership import propose_transfer
    from tests.approvals.conftest import answers
    from tests.factories import UserFactory

    users = seed_people("fuzz-password")
    build_identities(users)
    fuzzer = UserFactory(
        username="fuzzer", roles=[Role.IAM, Role.SECURITY, Role.OWNER], team=users["iam"].team
    )
    mine = Identity.objects.filter(owner=users["owner"], status=Identity.Status.ACTIVE).first()
    # The fuzzer owns a few identities too, so its pages show an owner's and a reviewer's forms.
    theirs = Identity.objects.filter(owner=users["owner2"], status=Identity.Status.ACTIVE)[:3]
    Identity.objects.filter(pk__in=[i.pk for i in theirs]).update(owner=fuzzer)
    launch_campaign(users["iam"], "Fuzz review", {}, (timezone.now() + timedelta(days=30)).date().isoformat())
    request_exception(
        users["owner"],
        identity=mine,
        rule="stale_unused",
        justification="A batch job that runs each quarter.",
        expires_at=(timezone.now() + timedelta(days=30)).date().isoformat(),
    )
    draft = intake_services.create_draft(users["owner"], {**answers("high"), "team": users["owner"].team})
    intake_services.submit(users["owner"], draft)
    propose_transfer(users["owner"], [mine], users["owner2"], "team change")
    return users, fuzzer
