"""governance.middleware.PolicyHeadersMiddleware: django-csp's headers, built once where nothing varies.

Each answer here is asked for twice, once through Steward's middleware and once with django-csp's
own in its place, and the two sets of policy headers must be the same."""

import pytest
from csp.constants import NONCE, NONE, SELF
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory

from governance.middleware import PolicyHeadersMiddleware
from tests.conftest import bearer
from tests.factories import IdentityFactory

POLICY_HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
OURS = "governance.middleware.PolicyHeadersMiddleware"
LIBRARY = "csp.middleware.CSPMiddleware"


def with_the_librarys(middleware: list[str]) -> list[str]:
    assert OURS in middleware
    return [LIBRARY if name == OURS else name for name in middleware]


def parts(header: str) -> set[str]:
    """The directives, in whatever order the library joined them (it builds them from a set)."""
    return set(header.split("; "))


def policy_headers(response) -> dict[str, str | None]:
    return {name: response.get(name) for name in POLICY_HEADERS}


def both_ways(settings, monkeypatch, ask) -> tuple[dict, dict]:
    """`ask()` once through Steward's middleware, once through django-csp's own. `ask` must build a
    new client each time: a test client loads the middleware on its first request and keeps it."""
    ran = []
    library_answer = CSPMiddleware.process_response

    def spied(self, request, response):
        ran.append(type(self))
        return library_answer(self, request, response)

    monkeypatch.setattr(CSPMiddleware, "process_response", spied)
    ours = policy_headers(ask())
    assert CSPMiddleware not in ran, "the library's own middleware answered in Steward's turn"
    settings.MIDDLEWARE = with_the_librarys(settings.MIDDLEWARE)
    library = policy_headers(ask())
    assert CSPMiddleware in ran, "the library's own middleware did not answer in its turn"
    settings.MIDDLEWARE = [OURS if name == LIBRARY else name for name in settings.MIDDLEWARE]
    return ours, library


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/",  # a page
        "/api/redoc/",  # a view's csp_update: the library's own path
        "/inventory/?search=x",
        "/no-such-page/",  # 404
        "/healthz",  # anonymous
    ],
)
def test_pages_get_the_same_policy_headers_as_the_librarys(settings, monkeypatch, iam, path):
    def ask():
        client = Client()
        if path != "/healthz":
            client.force_login(iam)
        return client.get(path)

    ours, library = both_ways(settings, monkeypatch, ask)
    assert ours == library
    assert ours["Content-Security-Policy"], "every answer carries the policy"
    if path == "/api/redoc/":
        assert "'unsafe-inline'" in ours["Content-Security-Policy"]
    else:
        assert "'unsafe-inline'" not in ours["Content-Security-Policy"]


@pytest.mark.django_db
def test_api_answers_and_decisions_get_the_same_policy_headers(settings, monkeypatch, iam, owner):
    from inventory.tokens import issue_token

    identity = IdentityFactory(owner=owner)
    token = issue_token(iam, iam, scope="read", days=1, name="policy headers")[1]
    question = {"identity": identity.pk, "action": "read", "resource": {"kind": "repo", "name": "a/b"}}
    for ask in (
        lambda: bearer(token).get("/api/v1/identities/"),
        lambda: bearer(token).post("/api/v1/decisions/", question, format="json"),
        lambda: bearer(token).post("/api/v1/decisions/", {"identity": "x"}, format="json"),  # a 400
    ):
        ours, library = both_ways(settings, monkeypatch, ask)
        assert ours == library and ours["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_changed_setting_is_read_again(settings, client):
    before = client.get("/healthz")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [NONE], "img-src": [SELF]}}
    after = client.get("/healthz")["Content-Security-Policy"]
    assert before != after
    assert parts(after) == {"default-src 'none'", "img-src 'self'"}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {"default-src": [SELF]},
        "EXCLUDE_URL_PREFIXES": ["/api/"],
    }
    assert client.get("/healthz")["Content-Security-Policy-Report-Only"] == "default-src 'self'"
    assert "Content-Security-Policy-Report-Only" not in client.get("/api/v1/no-such/")


def middleware_answering(cls, reads_nonce: bool):
    def view(request):
        response = HttpResponse("ok")
        if reads_nonce:
            response.nonce = str(request.csp_nonce)
        return response

    return cls(view)


@pytest.mark.parametrize("cls", [PolicyHeadersMiddleware, CSPMiddleware])
def test_a_nonce_asked_for_is_in_the_header_and_one_asked_for_too_late_is_an_error(settings, cls):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [SELF], "script-src": [SELF, NONCE]}}
    request = RequestFactory().get("/")
    response = middleware_answering(cls, reads_nonce=True)(request)
    assert f"'nonce-{response.nonce}'" in response["Content-Security-Policy"]

    request = RequestFactory().get("/")
    response = middleware_answering(cls, reads_nonce=False)(request)
    assert parts(response["Content-Security-Policy"]) == {"default-src 'self'", "script-src 'self'"}
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_an_exempt_view_gets_no_header():
    from csp.decorators import csp_exempt

    exempt = csp_exempt()(lambda request: HttpResponse("ok"))
    response = PolicyHeadersMiddleware(exempt)(RequestFactory().get("/"))
    assert "Content-Security-Policy" not in response


def test_an_override_set_to_none_takes_the_librarys_path():
    def view(request):
        response = HttpResponse("ok")
        response._csp_exempt = None  # the library reads anything but False as exempt
        return response

    assert "Content-Security-Policy" not in CSPMiddleware(view)(RequestFactory().get("/"))
    assert "Content-Security-Policy" not in PolicyHeadersMiddleware(view)(RequestFactory().get("/"))


def test_a_header_the_view_set_itself_is_kept():
    def view(request):
        response = HttpResponse("ok")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    response = PolicyHeadersMiddleware(view)(RequestFactory().get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_debug_pages_keep_their_inline_styles(settings):
    failing = PolicyHeadersMiddleware(lambda request: HttpResponse("boom", status=500))
    settings.DEBUG = True
    assert "Content-Security-Policy" not in failing(RequestFactory().get("/"))
    settings.DEBUG = False
    assert failing(RequestFactory().get("/"))["Content-Security-Policy"]


def test_steward_runs_its_own_in_the_librarys_place():
    assert OURS in settings.MIDDLEWARE and LIBRARY not in settings.MIDDLEWARE
    assert issubclass(PolicyHeadersMiddleware, CSPMiddleware)
