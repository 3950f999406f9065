"""The decision endpoint's lean path (governance/decisions/lean.py) answers exactly as the DRF view.

Each case is asked twice on the same estate, lean path on and off, with the caches emptied between
(rate limits, once-a-minute marks): the status, the body, the headers a client reads and what was
recorded (decision rows, usage events, audit events) must be the same. The cases cover every
answer the view gives a bearer token: allow, deny and step-up, a batch, every refusal (authentication,
scope, role, ownership, input, the rate limit), and requests the lean path leaves to DRF.
"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from governance.actors import system
from governance.decisions import lean, subjects
from governance.decisions.models import DecisionRecord
from governance.models import AuditEvent
from inventory import services as inventory
from inventory.models import UsageEvent
from inventory.tokens import issue_token, revoke_token
from tests.decisions.conftest import question
from tests.factories import GrantFactory, IdentityFactory
from tests.workload.conftest import bind, exchange, oidc_issuer, trusted  # noqa: F401 - fixtures used below

PATH = "/api/v1/decisions/"
# What a client reads; X-Request-ID is checked for presence (its value is new per request).
HEADERS = (
    "Content-Type",
    "Allow",
    "Vary",
    "Cache-Control",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Security-Policy",
    "WWW-Authenticate",
    "Retry-After",
)


@pytest.fixture
def served(monkeypatch):
    """How many requests the lean path answered itself (not handed to DRF)."""
    counts = {"lean": 0}
    original = lean.serve

    def counting(request):
        response = original(request)
        counts["lean"] += response is not None
        return response

    monkeypatch.setattr(lean, "serve", counting)
    return counts


def ask(settings, lean_on: bool, token: str, body, *, content_type="application/json", path=PATH, **extra):
    settings.STEWARD_LEAN_DECISIONS = lean_on
    cache.clear()
    subjects.clear_local()
    before = (DecisionRecord.objects.count(), UsageEvent.objects.count(), AuditEvent.objects.count())
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = Client().post(
        path, raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **extra
    )
    after = (DecisionRecord.objects.count(), UsageEvent.objects.count(), AuditEvent.objects.count())
    try:
        payload = response.json()
    except ValueError:
        payload = response.content
    headers = {name: response.get(name) for name in HEADERS}
    if headers["Content-Security-Policy"]:  # the same directives, in whatever order they were joined
        headers["Content-Security-Policy"] = sorted(headers["Content-Security-Policy"].split("; "))
    assert response.get("X-Request-ID")
    recorded = tuple(b - a for a, b in zip(before, after, strict=True))
    return response.status_code, payload, headers, recorded


def same_both_ways(settings, served, token, body, *, lean_serves: bool, **kw):
    served["lean"] = 0
    lean_answer = ask(settings, True, token, body, **kw)
    assert served["lean"] == int(lean_serves), "the lean path served it" if lean_serves else "fell through"
    drf_answer = ask(settings, False, token, body, **kw)
    assert served["lean"] == int(lean_serves)  # switched off, it is never asked
    assert lean_answer == drf_answer
    return lean_answer


@pytest.fixture
def tokens(iam, owner, auditor, agent):
    def make(user, scope, actor=None):
        return issue_token(actor or system("test"), user, scope=scope, days=1)[1]

    revoked_row, revoked = issue_token(system("test"), iam, scope="write", days=1)
    revoke_token(system("test"), revoked_row, "test")
    return {
        "iam_read": make(iam, "read"),
        "iam_write": make(iam, "write"),
        "owner": make(owner, "write"),
        "auditor": make(auditor, "read"),
        "scim": make(iam, "scim"),
        "report": make(iam, "report", actor=iam),
        "revoked": revoked,
        "unknown": "stw_" + "x" * 40,
    }


@pytest.fixture
def others(owner2):
    other = IdentityFactory(name="someone-elses", owner=owner2, environments=["dev"])
    GrantFactory(
        identity=other, resource_kind="repository", resource_name="platform/*", actions=["read_code"]
    )
    return other


@pytest.mark.django_db
class TestPlainQuestions:
    def test_an_allow(self, settings, served, tokens, agent):
        status, body, headers, recorded = same_both_ways(
            settings, served, tokens["iam_read"], question(agent, task_ref="t-1"), lean_serves=True
        )
        assert status == 200 and body["decision"] == "allow"
        assert recorded == (1, 1, 0)
        assert headers["Cache-Control"] == "no-store" and headers["Content-Type"] == "application/json"

    def test_a_deny_is_recorded_and_audited(self, settings, served, tokens, agent):
        status, body, _h, recorded = same_both_ways(
            settings, served, tokens["iam_write"], question(agent, action="write_code"), lean_serves=True
        )
        assert status == 200 and body["decision"] == "deny"
        assert recorded == (1, 1, 1)

    def test_a_batch_with_allow_deny_and_step_up(self, settings, served, tokens, agent):
        batch = [
            question(agent),
            question(agent, action="write_code"),
            question(agent, action="merge", environment="prod"),
        ]
        status, body, _h, recorded = same_both_ways(
            settings, served, tokens["iam_read"], batch, lean_serves=True
        )
        assert status == 200 and [a["decision"] for a in body] == ["allow", "deny", "step_up"]
        assert recorded[:2] == (3, 3)

    def test_an_owner_asks_about_their_own(self, settings, served, tokens, agent):
        status, body, _h, _r = same_both_ways(
            settings, served, tokens["owner"], question(agent), lean_serves=True
        )
        assert status == 200 and body["identity"] == agent.pk


@pytest.mark.django_db
class TestRefusals:
    """Refused after the rate limit counted the request: answered by the lean path itself."""

    def test_an_owner_asking_about_someone_elses_identity(self, settings, served, tokens, others):
        status, body, _h, recorded = same_both_ways(
            settings, served, tokens["owner"], question(others), lean_serves=True
        )
        assert status == 403 and "only about identities you own" in body["detail"]
        assert recorded == (0, 0, 0)

    def test_an_unknown_identity(self, settings, served, tokens, agent):
        body = {**question(agent), "identity": 999_999}
        status, payload, _h, recorded = same_both_ways(
            settings, served, tokens["iam_read"], body, lean_serves=True
        )
        assert status == 400 and "no identity with id 999999" in json.dumps(payload)
        assert recorded == (0, 0, 0)

    @pytest.mark.parametrize(
        "body",
        [
            {"action": "read_code"},
            [{}] * 2,
            [{"identity": 1}] * 101,
            [],
            '"just text"',
            {"identity": "1; DROP TABLE", "action": "x", "resource": "y", "environment": "z"},
        ],
        ids=["missing-fields", "bad-batch", "batch-over-100", "empty-batch", "a-string", "garbage"],
    )
    def test_bad_questions(self, settings, served, tokens, agent, body):
        status, payload, _h, recorded = same_both_ways(
            settings, served, tokens["iam_read"], body, lean_serves=True
        )
        assert status == 400 and payload
        assert recorded == (0, 0, 0)


@pytest.mark.django_db
class TestLeftToDrf:
    """Refused before anything counted, or unusual: DRF answers, as it always did."""

    @pytest.mark.parametrize(
        "who,status",
        [("auditor", 403), ("scim", 403), ("report", 403), ("revoked", 401), ("unknown", 401)],
    )
    def test_tokens_that_may_not_ask(self, settings, served, tokens, agent, who, status):
        got, payload, headers, recorded = same_both_ways(
            settings, served, tokens[who], question(agent), lean_serves=False
        )
        assert got == status and payload["detail"]
        assert recorded == (0, 0, 0)
        if status == 401:
            assert headers["WWW-Authenticate"] == "Bearer"

    def test_a_suspended_tokens_identity(self, settings, served, iam, agent):
        row, value = issue_token(system("test"), iam, scope="read", days=1)
        inventory.suspend(system("test"), row.identity, "test")
        got, payload, _h, _r = same_both_ways(settings, served, value, question(agent), lean_serves=False)
        assert got == 401 and "suspended" in payload["detail"]

    @pytest.mark.parametrize(
        "raw",
        ["{not json", "[" * 200 + "]" * 200, '{"task_ref": "\\u0000"}', '{"n": 1e999}', b"\xff\xfe"],
        ids=["malformed", "too-deep", "nul", "infinite", "not-utf8"],
    )
    def test_bodies_that_do_not_parse(self, settings, served, tokens, raw):
        got, payload, _h, recorded = same_both_ways(
            settings, served, tokens["iam_read"], raw, lean_serves=False
        )
        assert got == 400 and "JSON parse error" in payload["detail"]
        assert recorded == (0, 0, 0)

    def test_over_the_rate_limit(self, settings, served, tokens, agent):
        settings.STEWARD_API_RATE = "1/min"
        for lean_on in (True, False):
            settings.STEWARD_LEAN_DECISIONS = lean_on
            cache.clear()
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['iam_read']}")
            assert client.post(PATH, question(agent), format="json").status_code == 200
            served["lean"] = 0
            refused = client.post(PATH, question(agent), format="json")
            assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
            assert served["lean"] == 0  # the lean path counts nothing and hands it over

    @pytest.mark.parametrize(
        "extra",
        [
            {"content_type": "text/plain"},
            {"content_type": "application/json; charset=latin-1"},
            {"HTTP_ACCEPT": "text/html"},
            {"path": PATH + "?format=json"},
        ],
        ids=["other-content-type", "other-charset", "asks-for-html", "query-string"],
    )
    def test_unusual_requests(self, settings, served, tokens, agent, extra):
        """Left to DRF (the HTML page carries a fresh CSRF token each time: status and records only)."""
        answers = []
        for lean_on in (True, False):
            served["lean"] = 0
            status, _payload, _h, recorded = ask(
                settings, lean_on, tokens["iam_read"], question(agent), **extra
            )
            assert served["lean"] == 0
            answers.append((status, recorded))
        assert answers[0] == answers[1]
        assert answers[0][0] in (200, 415)


@pytest.mark.django_db
def test_a_workload_access_token_and_a_revoked_one(settings, served, oidc_issuer, trusted, owner):  # noqa: F811
    """An exchanged JWT asks about itself; once revoked, every answer is deny (logged), both ways."""
    ci = IdentityFactory(owner=owner, name="payments-deploy", kind="workload", environments=["prod"])
    GrantFactory(identity=ci, resource_name="acme/payments", actions=["read_code", "merge"])
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    token = exchange(Client(), oidc_issuer.github()).json()["access_token"]
    body = {
        "action": "read_code",
        "resource": {"kind": "repository", "name": "acme/payments"},
        "environment": "prod",
    }
    status, payload, _h, recorded = same_both_ways(settings, served, token, body, lean_serves=True)
    assert status == 200 and payload["decision"] == "allow" and payload["identity"] == ci.pk
    inventory.suspend(system("test"), ci, "drift")
    status, payload, _h, recorded = same_both_ways(settings, served, token, body, lean_serves=True)
    assert status == 200 and payload["decision"] == "deny"
    assert payload["policies"] == ["workload_session_revoked"]
    assert recorded[0] == 1


@pytest.mark.django_db
def test_the_log_and_sessions_still_go_through_drf(settings, served, iam, api_as, agent):
    settings.STEWARD_LEAN_DECISIONS = True
    assert api_as(iam).get(PATH).status_code == 200
    session = Client()
    session.force_login(iam)
    asked = session.post(PATH, question(agent), content_type="application/json")
    assert asked.status_code in (200, 403)  # a session's POST keeps DRF's CSRF rule
    assert served["lean"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["action", "environment", "kind"])
def test_a_list_or_object_where_text_belongs_is_a_400(settings, served, tokens, agent, field):
    body = question(agent)
    if field == "kind":
        body["resource"] = {"kind": ["repository"], "name": "platform/api"}
    else:
        body[field] = [{"x": 1}]
    status, payload, _h, recorded = same_both_ways(
        settings, served, tokens["iam_read"], body, lean_serves=True
    )
    assert status == 400 and recorded == (0, 0, 0)
