"""Property-based fuzz of every JSON endpoint and every form with hostile input (issue 18): deep
nesting, huge and negative integers, confusable Unicode and long strings. One property: no answer
is a 5xx.

Schemathesis (test_api_fuzz.py) sends what the schema allows; this sends what it does not. JSON
endpoints come from the OpenAPI schema: each gets raw hostile texts, bodies whose every field holds
a hostile value, and hostile ids and query parameters. Forms are found the way a person finds them:
every page (and the htmx fragments it loads) is fetched as a user with every governing role, and
each form on it is sent back with hostile values in its fields. `make test` draws
STEWARD_FUZZ_EXAMPLES (default 5) per target; `make fuzz` draws 100.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.actors import system
from inventory.tokens import issue_token
from tests.conftest import bearer
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory
from tests.security.fuzz_support import (
    EXAMPLES,
    RAW_JSON,
    SWEEP,
    build_estate,
    forms_on,
    hostile_ids,
    json_values,
    openapi,
    operations,
    texts,
)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
OPERATIONS = operations(openapi())
# Answers that are files or long-running side effects rather than JSON.
SKIP_OPERATIONS = {"/api/v1/evidence-exports/{id}/download/"}
SIGN_OUT = ("/accounts/logout", "/oidc/")


def _no_server_error(response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.content[:500]!r}"


# ---------------------------------------------------------------- JSON endpoints


@pytest.fixture
def api_client(iam, owner):
    identity = IdentityFactory(owner=owner, name="fuzz-target", environments=["dev"])
    GrantFactory(identity=identity)
    CredentialFactory(identity=identity)
    _token, value = issue_token(system("test"), iam, scope="write", days=1)
    return bearer(value), identity.pk


def _fill_path(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", quote(value, safe=""), path)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.path not in SKIP_OPERATIONS], ids=str)
def test_no_hostile_json_makes_an_endpoint_fail(operation, api_client):
    client, real_id = api_client
    send = getattr(client, operation.method)
    for value in SWEEP:  # each shape of the report in every field, the path and the query at once
        text = str(value)
        url = _fill_path(operation.path, text)
        query = {name: text for name in operation.query}
        if operation.method == "get":
            _no_server_error(send(url, query), f"{operation} {query!r:.200}")
            continue
        fields = {name: value for name in operation.body}
        _no_server_error(
            send(url, [fields] if operation.body_is_list else fields, format="json"), f"{operation}"
        )
        _no_server_error(
            send(_fill_path(operation.path, str(real_id)), fields, format="json"), f"{operation}"
        )

    @FUZZ
    @given(
        path_id=st.one_of(st.just(str(real_id)), hostile_ids),
        query=st.dictionaries(st.sampled_from(operation.query or ("page",)), texts, max_size=3),
        raw=st.sampled_from(RAW_JSON),
        fields=st.fixed_dictionaries({name: json_values for name in operation.body}),
        shape=st.sampled_from(["raw", "fields", "fields-as-list", "scalar"]),
        scalar=json_values,
    )
    def run(path_id, query, raw, fields, shape, scalar):
        url = _fill_path(operation.path, path_id)
        if operation.method == "get":
            _no_server_error(send(url, query), f"{operation} {query}")
            return
        if shape == "raw":
            response = send(url, raw, content_type="application/json")
        else:
            body = {"fields": fields, "fields-as-list": [fields], "scalar": scalar}[shape]
            if operation.body_is_list and shape == "fields":
                body = [fields]
            response = send(url, body, format="json")
        _no_server_error(response, f"{operation} {shape} {url}")

    run()


# ---------------------------------------------------------------- forms on pages


def _web_patterns(resolver=None, prefix: str = "") -> list[str]:
    """Every page's route with its converters, outside the API, the admin, SSO and SCIM."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(("api/", "admin/", "oidc/", "scim/", "accounts/reset/", "accounts/logout")):
            continue
        if isinstance(entry, URLResolver):
            found += _web_patterns(entry, route)
        elif isinstance(entry, URLPattern) and "<path:" not in route and "<uidb64>" not in route:
            found.append(route)
    return sorted(set(found))


def _areas() -> dict[str, list[str]]:
    """Pages grouped by their first segment: each group is one test, with one estate built for it."""
    groups: dict[str, list[str]] = {}
    for route in _web_patterns():
        area = route.split("/", 1)[0] or "home"
        groups.setdefault(area, []).append(route)
    return groups


AREAS = _areas()


def _fill_route(route: str, number: str) -> str:
    route = re.sub(r"<int:[^>]+>", number, route)
    route = re.sub(r"<slug:[^>]+>", "identities", route)
    return "/" + route.lstrip("^").rstrip("$")


def _fuzz_form(client, form) -> None:
    names = sorted(form.fields)
    send = client.post if form.method == "post" else client.get
    for value in SWEEP:  # each shape of the report in every field at once
        _no_server_error(send(form.action, dict.fromkeys(names, str(value))), f"{form} {value!r:.100}")

    @FUZZ
    @given(
        values=st.fixed_dictionaries(
            {
                name: st.one_of(
                    st.sampled_from(form.fields[name] or [""]), texts, st.lists(texts, min_size=2, max_size=3)
                )
                for name in names
            }
        ),
        htmx=st.booleans(),
    )
    def run(values, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        _no_server_error(send(form.action, values, **headers), f"{form} {values!r:.300}")

    run()


@pytest.mark.django_db
@pytest.mark.parametrize("area", sorted(AREAS))
def test_no_hostile_form_input_makes_a_page_fail(area, client):
    _users, fuzzer = build_estate()
    client.force_login(fuzzer)
    fuzzed: set[tuple] = set()
    for route in AREAS[area]:
        ids = ["1", "2"] if "<" in route else [""]
        for number in ids:
            url = _fill_route(route, number)
            page = client.get(url)
            _no_server_error(page, f"GET {url}")
            if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
                continue
            forms, fragments = forms_on(url, page.content.decode())
            for fragment in sorted(fragments)[:10]:
                loaded = client.get(fragment, HTTP_HX_REQUEST="true")
                _no_server_error(loaded, f"GET {fragment}")
                if loaded.status_code == 200 and "html" in loaded.get("Content-Type", ""):
                    forms += forms_on(fragment, loaded.content.decode())[0]
            for form in forms:
                # The same form for another object (/inventory/2/edit/ after /1/) is fuzzed once.
                shape = (form.method, re.sub(r"\d+", "N", form.action), tuple(sorted(form.fields)))
                if shape not in fuzzed and not form.action.startswith(SIGN_OUT):  # stay signed in
                    fuzzed.add(shape)
                    _fuzz_form(client, form)
        if "<int:" in route:
            _fuzz_path(client, route)


def _fuzz_path(client, route: str) -> None:
    @FUZZ
    @given(number=hostile_ids)
    def run(number):
        url = _fill_route(route, quote(number, safe=""))
        _no_server_error(client.get(url), f"GET {url}")
        _no_server_error(client.post(url, {}), f"POST {url}")

    run()
