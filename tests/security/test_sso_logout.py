"""Issue 17: sessions follow the identity provider. Back-channel logout tokens are signed by the
test's own key (the provider's key is replaced by it through OIDC_RP_IDP_SIGN_KEY); RP-initiated
logout and re-checks run against the loopback provider."""

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client

from governance.models import AuditEvent
from governance.people.models import Role, SignedInSession, User
from tests.factories import UserFactory
from tests.security.test_sso import bind, signed_in_username, sso_login

pytestmark = pytest.mark.django_db
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def test_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def signed_sso(sso, settings, test_key):
    """SSO on, with logout tokens verified against the test's own public key."""
    settings.OIDC_RP_IDP_SIGN_KEY = (
        test_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return sso


def logout_token(key, provider, **overrides):
    claims = {
        "iss": provider.url,
        "aud": "steward-test",
        "iat": int(time.time()),
        "exp": int(time.time()) + 120,
        "jti": uuid.uuid4().hex,
        "events": {EVENT: {}},
        "sub": "nina-sub",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256")


@pytest.fixture
def nina_sessions(sso):
    """Nina bound to the provider, with two SSO-recorded browser sessions and one of someone else."""
    nina = UserFactory(username="nina", roles=[Role.IAM])
    bind(nina, sso, "nina-sub")
    other = UserFactory(username="otto", roles=[Role.IAM])
    browsers = []
    for user, sid in ((nina, "sid-1"), (nina, "sid-2"), (other, "sid-3")):
        browser = Client()
        browser.force_login(user)
        SignedInSession.objects.filter(session_key=browser.session.session_key).update(
            sso_issuer=sso.url, sso_sid=sid
        )
        browsers.append(browser)
    return nina, browsers


def post_logout(client, token):
    return client.post("/oidc/backchannel-logout/", {"logout_token": token})


def test_a_valid_logout_token_by_sub_ends_every_session_of_that_person(
    client, signed_sso, test_key, nina_sessions
):
    nina, (first, second, others) = nina_sessions
    response = post_logout(client, logout_token(test_key, signed_sso))
    assert response.status_code == 200 and response.json() == {"sessions_ended": 2}
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    assert first.get("/").status_code == 302 and second.get("/").status_code == 302
    assert others.get("/").status_code == 200
    event = AuditEvent.objects.get(verb="user.sso_logged_out")
    assert event.actor == "system:sso" and event.subject_id == str(nina.pk)


def test_a_logout_token_by_sid_ends_only_that_session(client, signed_sso, test_key, nina_sessions):
    _, (first, second, _) = nina_sessions
    response = post_logout(client, logout_token(test_key, signed_sso, sub=None, sid="sid-2"))
    assert response.json() == {"sessions_ended": 1}
    assert first.get("/").status_code == 200 and second.get("/").status_code == 302


@pytest.mark.parametrize(
    "case",
    [
        "bad-signature",
        "wrong-audience",
        "no-events",
        "wrong-event",
        "nonce",
        "no-sid-or-sub",
        "wrong-issuer",
        "old",
        "alg-none",
    ],
)
def test_bad_logout_tokens_are_refused_with_400_and_end_nothing(
    client, signed_sso, test_key, nina_sessions, case
):
    key = test_key
    claims = {}
    if case == "bad-signature":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif case == "wrong-audience":
        claims["aud"] = "someone-else"
    elif case == "no-events":
        claims["events"] = None
    elif case == "wrong-event":
        claims["events"] = {"http://schemas.openid.net/event/other": {}}
    elif case == "nonce":
        claims["nonce"] = "n"
    elif case == "no-sid-or-sub":
        claims["sub"] = None
    elif case == "wrong-issuer":
        claims["iss"] = "https://elsewhere.example"
    elif case == "old":
        claims["iat"] = int(time.time()) - 3600
    if case == "alg-none":
        token = jwt.encode(
            {
                "iss": signed_sso.url,
                "aud": "steward-test",
                "iat": int(time.time()),
                "jti": "j",
                "events": {EVENT: {}},
                "sub": "nina-sub",
            },
            None,
            algorithm="none",
        )
    else:
        token = logout_token(key, signed_sso, **claims)
    response = post_logout(client, token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert SignedInSession.objects.count() == 3 and Session.objects.count() == 3
    assert not AuditEvent.objects.filter(verb="user.sso_logged_out").exists()


def test_a_replayed_logout_token_is_refused(client, signed_sso, test_key, nina_sessions):
    token = logout_token(test_key, signed_sso)
    assert post_logout(client, token).status_code == 200
    replay = post_logout(client, token)
    assert replay.status_code == 400 and "replayed" in replay.json()["error_description"]


def test_a_missing_or_garbage_token_is_a_400_not_a_500(client, signed_sso):
    assert client.post("/oidc/backchannel-logout/", {}).status_code == 400
    assert post_logout(client, "not.a.jwt").status_code == 400
    assert client.get("/oidc/backchannel-logout/").status_code == 405


def test_the_endpoint_is_off_without_sso(client):
    response = client.post("/oidc/backchannel-logout/", {"logout_token": "x"})
    assert response.status_code == 400 and "not configured" in response.json()["error_description"]


def test_a_real_sso_login_records_the_providers_sid(client, sso):
    sso.set_user("pia-sub", preferred_username="pia", email="pia@example.com", groups=["engineering"])
    sso_login(client, sso, "pia-sub")
    record = SignedInSession.objects.get(session_key=client.session.session_key)
    assert record.user.username == "pia" and record.sso_issuer == sso.url


def test_deactivating_a_person_deletes_their_sessions_at_once(
    client, sso, django_capture_on_commit_callbacks
):
    from governance.people.services import deactivate_user

    quinn = UserFactory(username="quinn", roles=[Role.OWNER])
    browser = Client()
    browser.force_login(quinn)
    key = browser.session.session_key
    with django_capture_on_commit_callbacks(execute=True):
        deactivate_user("system:test", quinn, reason="left")
    assert not Session.objects.filter(session_key=key).exists()
    assert not SignedInSession.objects.filter(user=quinn).exists()


# -- RP-initiated logout --------------------------------------------------------------------------


def test_sign_out_continues_to_the_providers_end_session_endpoint(client, sso, settings):
    settings.OIDC_OP_LOGOUT_ENDPOINT = f"{sso.url}/oauth2/end_session"
    sso.set_user("rae-sub", preferred_username="rae", email="rae@example.com", groups=["engineering"])
    sso_login(client, sso, "rae-sub")
    id_token = client.session["steward_sso"]["id_token"]
    page = client.get("/")
    assert f"form-action 'self' {sso.url}" in page["Content-Security-Policy"]

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sso.url}/oauth2/end_session"
    query = parse_qs(target.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/?signed_out=1"]
    assert query["client_id"] == ["steward-test"]
    assert SESSION_KEY not in client.session
    assert not SignedInSession.objects.exists()
    assert b"You are signed out of Steward" in client.get("/accounts/login/?signed_out=1").content


def test_sign_out_stays_local_when_the_provider_offers_no_end_session(client, sso):
    sso.set_user("sam-sub", preferred_username="sam", email="sam@example.com", groups=["engineering"])
    sso_login(client, sso, "sam-sub")
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "form-action 'self';" in client.get("/accounts/login/")["Content-Security-Policy"] + ";"


# -- re-checks ------------------------------------------------------------------------------------


@pytest.fixture
def sso(sso, settings):
    # The loopback provider accepts only client_secret_basic for the refresh grant.
    settings.OIDC_TOKEN_USE_BASIC_AUTH = True
    return sso


def test_roles_are_re_read_from_the_provider_at_the_re_check(client, sso, settings):
    sso.set_user("tia-sub", preferred_username="tia", email="tia@example.com", groups=["engineering"])
    sso_login(client, sso, "tia-sub")
    assert User.objects.get(username="tia").roles == {Role.OWNER}
    sso.set_user("tia-sub", preferred_username="tia", email="tia@example.com", groups=["steward-auditors"])
    assert client.get("/").status_code == 200  # not due yet: nothing asked
    assert User.objects.get(username="tia").roles == {Role.OWNER}

    settings.STEWARD_SSO_RECHECK_SECONDS = 0
    assert client.get("/").status_code == 200
    assert User.objects.get(username="tia").roles == {Role.AUDITOR}
    change = AuditEvent.objects.filter(verb="user.roles_changed").latest("seq")
    assert change.actor == "system:sso" and change.after == {"roles": ["Auditor"]}


def test_a_person_disabled_at_the_provider_is_signed_out_at_the_re_check(client, sso, settings):
    sso.set_user("uma-sub", preferred_username="uma", email="uma@example.com", groups=["engineering"])
    sso_login(client, sso, "uma-sub")
    sso.set_user(
        "uma-sub", preferred_username="uma", email="uma@example.com", groups=["engineering"], active=False
    )
    settings.STEWARD_SSO_RECHECK_SECONDS = 0
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert signed_in_username(client) is None
    assert User.objects.get(username="uma").is_active is False
    assert AuditEvent.objects.filter(verb="user.sso_session_ended").exists()


def test_a_groups_claim_that_disappears_ends_the_session_without_touching_roles(client, sso, settings):
    sso.set_user("vic-sub", preferred_username="vic", email="vic@example.com", groups=["steward-iam"])
    sso_login(client, sso, "vic-sub")
    sso.set_user("vic-sub", preferred_username="vic", email="vic@example.com")
    settings.STEWARD_SSO_RECHECK_SECONDS = 0
    response = client.get("/")
    assert response.status_code == 302 and signed_in_username(client) is None
    assert User.objects.get(username="vic").roles == {Role.IAM}


def test_an_unreachable_provider_keeps_the_session_and_asks_again_later(client, sso, settings):
    sso.set_user("wes-sub", preferred_username="wes", email="wes@example.com", groups=["engineering"])
    sso_login(client, sso, "wes-sub")
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"  # nothing listens on the discard port
    settings.STEWARD_SSO_RECHECK_SECONDS = 0
    assert client.get("/").status_code == 200
    assert signed_in_username(client) == "wes"


def test_the_refresh_token_is_kept_encrypted(client, sso):
    sso.set_user("xan-sub", preferred_username="xan", email="xan@example.com", groups=["engineering"])
    sso_login(client, sso, "xan-sub")
    sealed = client.session["steward_sso"]["refresh_token"]
    assert sealed and sealed.startswith("gAAAA")  # a Fernet token, not the provider's value
