"""The panva oidc-provider harness on its own, without Steward: what the SSO tests may rely on."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.loopback import serving
from tests.oidc.panva import SCRIPT, LoginRejected, PanvaError, pkce_pair, running_panva

CALLBACK = "http://127.0.0.1:9/oidc/callback/"
SIGNED_OUT = "http://127.0.0.1:9/accounts/login/?signed_out=1"


@pytest.fixture(scope="module")
def op():
    started = time.monotonic()
    with running_panva(redirect_uris=[CALLBACK], post_logout_redirect_uris=[SIGNED_OUT]) as provider:
        provider.start_seconds = time.monotonic() - started
        yield provider


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def new_sub(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sign_in(op, sub, scope="openid email profile", session=None, **extra):
    """The whole code flow for `sub`: returns (token response JSON, nonce, session)."""
    session = session or browser()
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(8)
    callback = op.login(
        session, op.authorize_url(scope=scope, nonce=nonce, code_challenge=challenge, **extra), sub
    )
    response = op.exchange_code(callback, verifier)
    assert response.status_code == 200, response.text
    return response.json(), nonce, session


def test_discovery_lists_logout_and_keys(op):
    d = op.discovery()
    assert d["issuer"] == op.url
    assert op.url.startswith("http://127.0.0.1:") and not op.url.endswith("/")
    assert d["end_session_endpoint"] == f"{op.url}/session/end"
    assert d["backchannel_logout_supported"] is True
    assert d["backchannel_logout_session_supported"] is True
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(d["scopes_supported"])
    assert "client_secret_post" in d["token_endpoint_auth_methods_supported"]
    keys = requests.get(d["jwks_uri"], timeout=5).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert "d" not in keys[0]  # the public half only
    assert op.start_seconds < 10, op.start_seconds


def test_settings_point_steward_at_the_provider(op):
    s = op.settings(role_map={"steward-iam": "IAM approver"}, scopes="openid email profile groups")
    d = op.discovery()
    assert s["OIDC_OP_DISCOVERY_ENDPOINT"] == f"{op.url}/.well-known/openid-configuration" == op.discovery_url
    assert s["OIDC_OP_AUTHORIZATION_ENDPOINT"] == d["authorization_endpoint"]
    assert s["OIDC_OP_TOKEN_ENDPOINT"] == d["token_endpoint"]
    assert s["OIDC_OP_USER_ENDPOINT"] == d["userinfo_endpoint"]
    assert s["OIDC_OP_JWKS_ENDPOINT"] == d["jwks_uri"]
    assert s["OIDC_OP_LOGOUT_ENDPOINT"] == d["end_session_endpoint"]
    assert s["OIDC_OP_ISSUER"] == op.url
    assert s["OIDC_RP_SIGN_ALGO"] == "RS256"
    assert s["OIDC_TOKEN_USE_BASIC_AUTH"] is False
    assert (s["OIDC_RP_CLIENT_ID"], s["OIDC_RP_CLIENT_SECRET"]) == (op.client_id, op.client_secret)
    assert s["STEWARD_OIDC_ROLE_MAP"] == "steward-iam=IAM approver"
    assert s["OIDC_RP_SCOPES"] == "openid email profile groups"


def test_code_flow_with_pkce_gives_a_signed_id_token_with_the_accounts_claims(op):
    sub = new_sub("alice")
    op.set_account(
        sub,
        email=f"{sub}@example.com",
        email_verified=True,
        preferred_username=sub,
        name="Alice Example",
        given_name="Alice",
        family_name="Example",
        groups=["steward-iam", "engineering"],
    )
    session = browser()
    verifier, challenge = pkce_pair()
    url = op.authorize_url(
        scope="openid email profile groups", state="st-1", nonce="n-1", code_challenge=challenge
    )
    callback = op.login(session, url, sub)
    assert op.last_login_showed_form is True
    assert callback.startswith(CALLBACK + "?")
    params = query(callback)
    assert params["state"] == "st-1" and params["code"] and params["iss"] == op.url

    tokens = op.exchange_code(callback, verifier).json()
    claims = op.verify_id_token(tokens["id_token"], nonce="n-1")
    assert claims["sub"] == sub and claims["aud"] == op.client_id and claims["iss"] == op.url
    assert claims["email"] == f"{sub}@example.com" and claims["email_verified"] is True
    assert claims["preferred_username"] == sub
    assert (claims["name"], claims["given_name"], claims["family_name"]) == (
        "Alice Example",
        "Alice",
        "Example",
    )
    assert claims["groups"] == ["steward-iam", "engineering"]
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"
    assert "refresh_token" not in tokens  # no offline_access asked

    info = op.userinfo(tokens["access_token"]).json()
    assert (
        info["sub"] == sub
        and info["groups"] == ["steward-iam", "engineering"]
        and info["name"] == "Alice Example"
    )

    authorize = op.requests_to("/auth")[-1]["query"]  # what the relying party sent, as sent
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] == "n-1"


def test_groups_claim_only_when_the_account_has_groups_and_the_scope_asks(op):
    sub = new_sub("nogroups")
    op.set_account(sub, email=f"{sub}@example.com", preferred_username=sub, name="No Groups")
    tokens, nonce, _ = sign_in(op, sub, scope="openid email profile groups")
    claims = op.verify_id_token(tokens["id_token"], nonce)
    assert "groups" not in claims and claims["email"] == f"{sub}@example.com"
    assert "groups" not in op.userinfo(tokens["access_token"]).json()

    member = new_sub("member")
    op.set_account(member, email=f"{member}@example.com", groups=["engineering"])
    tokens, nonce, _ = sign_in(op, member, scope="openid email profile")  # no `groups` scope
    assert "groups" not in op.verify_id_token(tokens["id_token"], nonce)
    tokens, nonce, _ = sign_in(op, member, scope="openid email profile groups")
    assert op.verify_id_token(tokens["id_token"], nonce)["groups"] == ["engineering"]


def test_pkce_is_required_and_checked(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    callback = op.login(browser(), op.authorize_url(), sub)  # no code_challenge
    assert query(callback)["error"] == "invalid_request"

    _, challenge = pkce_pair()
    callback = op.login(browser(), op.authorize_url(code_challenge=challenge), sub)
    wrong = op.exchange_code(callback, pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_client_secret_post_is_the_method(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    verifier, challenge = pkce_pair()
    callback = op.login(browser(), op.authorize_url(code_challenge=challenge), sub)
    code = query(callback)["code"]
    basic = requests.post(
        op.discovery()["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(op.client_id, op.client_secret),
        timeout=5,
    )
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert op.events()[-1]["event"] == "client_auth.refused"
    assert op.exchange_code(callback, verifier).status_code == 200  # the code was not spent


def test_client_secret_basic_when_asked():
    with running_panva(redirect_uris=[CALLBACK], auth_method="client_secret_basic") as basic_op:
        assert basic_op.settings()["OIDC_TOKEN_USE_BASIC_AUTH"] is True
        basic_op.set_account("bob", email="bob@example.com")
        verifier, challenge = pkce_pair()
        callback = basic_op.login(None, basic_op.authorize_url(code_challenge=challenge), "bob")
        post = requests.post(
            basic_op.discovery()["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query(callback)["code"],
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
                "client_id": basic_op.client_id,
                "client_secret": basic_op.client_secret,
            },
            timeout=5,
        )
        assert post.status_code == 401 and post.json()["error"] == "invalid_client"
        callback = basic_op.login(None, basic_op.authorize_url(code_challenge=challenge), "bob")
        assert "id_token" in basic_op.exchange_code(callback, verifier).json()


def test_a_second_login_rides_the_idp_session(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    session = browser()
    _, challenge = pkce_pair()
    op.login(session, op.authorize_url(code_challenge=challenge), sub)
    assert op.last_login_showed_form is True
    assert "op_session" in session.cookies.get_dict()

    callback = op.login(session, op.authorize_url(code_challenge=challenge), None)  # no form this time
    assert op.last_login_showed_form is False and "code" in query(callback)

    silent = op.login(browser(), op.authorize_url(code_challenge=challenge, prompt="none"), None)
    assert query(silent)["error"] == "login_required"  # a fresh browser has no IdP session
    with pytest.raises(PanvaError):
        op.login(browser(), op.authorize_url(code_challenge=challenge), None)


def test_unknown_account_cannot_sign_in(op):
    with pytest.raises(LoginRejected, match="Unknown account"):
        op.login(browser(), op.authorize_url(code_challenge=pkce_pair()[1]), new_sub("nobody"))


def test_cancel_goes_back_with_access_denied(op):
    session = browser()
    response = session.get(op.authorize_url(code_challenge=pkce_pair()[1], state="s"), timeout=5)
    assert (
        response.status_code == 200
        and 'name="login"' in response.text
        and "Sign-in</button>" in response.text
    )
    cancel = session.get(f"{response.url}/abort", allow_redirects=False, timeout=5)
    cancel = session.get(cancel.headers["Location"], allow_redirects=False, timeout=5)
    assert query(cancel.headers["Location"]) == {
        "error": "access_denied",
        "error_description": "End-User aborted interaction",
        "state": "s",
        "iss": op.url,
    }


def test_refresh_token_with_offline_access_until_the_account_is_removed(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com", groups=["engineering"])
    tokens, _, _ = sign_in(op, sub, scope="openid email profile groups offline_access")
    assert tokens["refresh_token"]
    assert "offline_access" in tokens["scope"].split()

    op.set_account(sub, email=f"{sub}@example.com", groups=["steward-iam"])  # the IdP changed its mind
    refreshed = op.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert op.verify_id_token(refreshed.json()["id_token"])["groups"] == ["steward-iam"]
    assert op.userinfo(refreshed.json()["access_token"]).json()["groups"] == ["steward-iam"]

    op.remove_account(sub)
    refused = op.refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert op.userinfo(refreshed.json()["access_token"]).status_code == 401
    assert any(e["event"] == "grant.error" and e["error"] == "invalid_grant" for e in op.events())


def test_removed_account_loses_its_idp_session(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    _, _, session = sign_in(op, sub)
    op.remove_account(sub)
    _, challenge = pkce_pair()
    silent = op.login(session, op.authorize_url(code_challenge=challenge, prompt="none"), None)
    assert query(silent)["error"] == "login_required"
    with pytest.raises(LoginRejected):
        op.login(session, op.authorize_url(code_challenge=challenge), sub)


def test_rp_initiated_logout_redirects_back_and_is_logged(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    tokens, _, session = sign_in(op, sub, scope="openid email offline_access")

    back = op.end_session(
        session, id_token_hint=tokens["id_token"], post_logout_redirect_uri=SIGNED_OUT, state="bye"
    )
    assert back == f"{SIGNED_OUT}&state=bye"
    seen = op.requests_to("/session/end")[-1]["query"]
    assert seen["id_token_hint"] == tokens["id_token"] and seen["post_logout_redirect_uri"] == SIGNED_OUT
    assert op.requests_to("/session/end/confirm")[-1]["method"] == "POST"
    assert any(e["event"] == "end_session.success" and e.get("sub") == sub for e in op.events())

    # The IdP session is over: the next login shows the form.
    op.login(session, op.authorize_url(code_challenge=pkce_pair()[1]), sub)
    assert op.last_login_showed_form is True
    # An offline_access refresh token outlives the IdP session (oidc-provider's rule); revocation ends it.
    assert op.refresh(tokens["refresh_token"]).status_code == 200
    revoked = op.token_request_to("revocation_endpoint", token=tokens["refresh_token"])
    assert revoked.status_code == 200
    assert op.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_logout_page_submits_itself_in_a_browser(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    tokens, _, session = sign_in(op, sub)
    page = session.get(
        op.discovery()["end_session_endpoint"], params={"id_token_hint": tokens["id_token"]}, timeout=5
    )
    assert page.status_code == 200
    assert 'name="logout" value="yes"' in page.text and "document.forms[0].submit()" in page.text
    assert "Yes, sign me out</button>" in page.text
    # Without post_logout_redirect_uri the provider ends on its own page.
    assert op.end_session(session, id_token_hint=tokens["id_token"]).endswith("/session/end/success")


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append({"path": self.path, "form": {k: v[0] for k, v in parse_qs(body).items()}})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def backchannel_receiver():
    handler = type("Recorder", (_Recorder,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server, poll_interval=0.05) as url:
        yield f"{url}/oidc/backchannel-logout/", handler.received


def test_backchannel_logout_reaches_a_loopback_relying_party(backchannel_receiver):
    url, received = backchannel_receiver
    with running_panva(
        redirect_uris=[CALLBACK], post_logout_redirect_uris=[SIGNED_OUT], backchannel_logout_uri=url
    ) as bop:
        bop.set_account("carol", email="carol@example.com")
        tokens, nonce, session = sign_in(bop, "carol")
        # With a back-channel URI registered, ID tokens carry the IdP session's sid.
        sid = bop.verify_id_token(tokens["id_token"], nonce)["sid"]

        assert bop.end_session(session, id_token_hint=tokens["id_token"], post_logout_redirect_uri=SIGNED_OUT)
        assert [r["path"] for r in received] == ["/oidc/backchannel-logout/"]
        claims = bop.verify_id_token(received[0]["form"]["logout_token"])
        assert claims["sub"] == "carol" and claims["sid"] == sid
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert "nonce" not in claims
        assert [e for e in bop.events() if e["event"].startswith("backchannel.")] == [
            {"event": "backchannel.success", "client_id": bop.client_id, "sub": "carol", "sid": sid}
        ]

        # On demand, without a browser: sent now, or only signed for the test to post itself.
        assert bop.send_backchannel_logout("carol", sid="s-1") == {"ok": True}
        assert bop.verify_id_token(received[1]["form"]["logout_token"])["sid"] == "s-1"
        token = bop.verify_id_token(bop.logout_token("dave"))
        assert token["sub"] == "dave" and "sid" not in token and token["jti"]


def test_backchannel_logout_failure_is_an_event(op):
    with running_panva(redirect_uris=[CALLBACK], backchannel_logout_uri="http://127.0.0.1:9/nowhere/") as bop:
        result = bop.send_backchannel_logout("erin")
        assert result["ok"] is False and result["error"]
        assert bop.events()[-1]["event"] == "backchannel.error"
    with pytest.raises(PanvaError, match="backchannel_logout_uri"):
        op.send_backchannel_logout("erin")


def test_the_node_process_ends_with_the_context_and_with_its_parent():
    with running_panva(redirect_uris=[CALLBACK]) as short_lived:
        process = short_lived.process
        assert process.poll() is None
    assert process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(short_lived.discovery_url, timeout=2)

    # If pytest dies without running the context's exit, node still stops: its stdin closes.
    orphan = subprocess.Popen(
        [shutil.which("node"), str(SCRIPT)],
        env={**os.environ, "PANVA_CONFIG": json.dumps({"port": 0})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert json.loads(orphan.stdout.readline())["url"].startswith("http://127.0.0.1:")
        orphan.stdin.close()
        assert orphan.wait(5) == 0
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.stdout.close()


def test_quiet_on_stderr(op):
    sub = new_sub()
    op.set_account(sub, email=f"{sub}@example.com")
    tokens, _, session = sign_in(op, sub, scope="openid email offline_access")
    op.refresh(tokens["refresh_token"])
    op.end_session(session, id_token_hint=tokens["id_token"], post_logout_redirect_uri=SIGNED_OUT)
    assert op.stderr() == ""
