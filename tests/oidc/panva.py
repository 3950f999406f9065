"""panva's OpenID Connect provider (npm `oidc-provider` v9) on loopback, for Steward's SSO tests.

    from tests.oidc.panva import running_panva

    def test_sso(client, settings):
        with running_panva(redirect_uris=["http://testserver/oidc/callback/"]) as op:
            op.set_account("alice", email="alice@example.com", groups=["steward-iam"])
            for name, value in op.settings().items():
                setattr(settings, name, value)
            start = client.get("/oidc/authenticate/")               # 302 to op's /auth?...
            callback = op.login(browser, start["Location"], "alice")  # browser: a requests.Session
            client.get(callback)                                     # Steward trades the code for tokens

The provider (tests/oidc/provider.mjs) is a real node process: discovery, JWKS (one RS256 key made at
start), authorization code flow with PKCE (required unless require_pkce=False) and nonce, refresh tokens
for `offline_access`, userinfo, RP-initiated logout (auto-confirmed) and back-channel logout. Its
sign-in page has one text field `login` (the account id, i.e. the `sub`; label "Account") and a "Sign-in"
button; consent is automatic. Only accounts put with set_account() can sign in.

Quirks worth knowing:
- Cookies: op_session, op_interaction, op_interaction_resume (+ .sig), on 127.0.0.1, SameSite=Lax, not
  Secure. Cookies ignore ports, so Steward on 127.0.0.1 shares the browser's jar; the names do not clash.
- offline_access: oidc-provider keeps it only with prompt=consent; the harness adds prompt=consent to an
  /auth GET that asks for offline_access without any prompt (the log shows the request as sent).
  Such refresh tokens outlive RP-initiated logout (oidc-provider's rule); revocation or remove_account
  ends them.
- The ID token carries `sid` only when the client has a backchannel_logout_uri (session required).
  With Django's test client the provider cannot reach Steward: use logout_token() and POST it yourself;
  end_session() then records a backchannel.error event (it does not fail).
- The client is held to its registered auth method (oidc-provider itself accepts post and basic alike).
- Logout page: auto-submits (JavaScript); its button is "Yes, sign me out" (manual_logout_confirm=True
  turns the auto-submit off).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().with_name("provider.mjs")
PACKAGE = REPO / "node_modules" / "oidc-provider" / "package.json"

DEFAULT_CLIENT_ID = "steward-test"
DEFAULT_CLIENT_SECRET = "client-secret-for-tests"
DEFAULT_REDIRECT_URIS = ("http://testserver/oidc/callback/",)
DEFAULT_POST_LOGOUT_REDIRECT_URIS = ("http://testserver/accounts/login/?signed_out=1",)
DEFAULT_ROLE_MAP = (
    "steward-iam=IAM approver,steward-security=Security admin,steward-auditors=Auditor,engineering=Tool owner"
)
START_TIMEOUT = float(os.environ.get("STEWARD_PANVA_START_TIMEOUT", "20"))
HTTP_TIMEOUT = 10


class PanvaError(AssertionError):
    """The provider answered something the helper did not expect (its error page text is in the message)."""


class LoginRejected(PanvaError):
    """The sign-in form came back: the account is unknown to the provider (remove_account, or never set)."""


def _missing_reason() -> str | None:
    if not shutil.which("node"):
        return "node is not installed (the SSO tests run panva's oidc-provider under node)"
    if not PACKAGE.exists():
        return "node_modules/oidc-provider is missing: run `make install` (npm ci)"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("STEWARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (STEWARD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Forms(HTMLParser):
    """A page's forms ([{"id", "action", "method", "inputs": {name: value}}]), texts and role=alert text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self._alert = False
        self.alert = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "id": a.get("id", ""),
                    "action": a.get("action", ""),
                    "method": a.get("method", "get").lower(),
                    "inputs": {},
                }
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["inputs"][a["name"]] = a.get("value", "")
        if a.get("role") == "alert" or "error" in a.get("class", "").split():
            self._alert = True

    def handle_endtag(self, tag: str) -> None:
        self._alert = False

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())
            if self._alert:
                self.alert = f"{self.alert} {data.strip()}".strip()


def _parse(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


@dataclass
class PanvaProvider:
    """A running provider. `url` is its issuer (http://127.0.0.1:PORT, no trailing slash)."""

    url: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    auth_method: str
    process: subprocess.Popen = field(repr=False)
    _stderr: Any = field(repr=False, default=None)
    _http: requests.Session = field(repr=False, default_factory=requests.Session)
    _discovery: dict[str, Any] | None = field(repr=False, default=None)
    last_login_showed_form: bool | None = None

    def __post_init__(self) -> None:
        self._http.trust_env = False  # never through an HTTP(S)_PROXY from the environment

    # --- discovery and Steward settings -------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            response = self._http.get(self.discovery_url, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            self._discovery = response.json()
        return self._discovery

    def settings(
        self,
        role_map: str | Mapping[str, str] | None = DEFAULT_ROLE_MAP,
        scopes: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Django settings that point Steward at this provider (discovery URL and every endpoint).

        role_map: "idp-group=Role,..." or {idp group: role}; None leaves STEWARD_OIDC_ROLE_MAP out.
        scopes: OIDC_RP_SCOPES when given (e.g. "openid email profile groups offline_access").
        extra: more settings, verbatim."""
        d = self.discovery()
        values: dict[str, Any] = {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_OP_DISCOVERY_ENDPOINT": self.discovery_url,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": d["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": d["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": d["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": d["jwks_uri"],
            "OIDC_OP_ISSUER": d["issuer"],
            "OIDC_OP_LOGOUT_ENDPOINT": d["end_session_endpoint"],
            "OIDC_TOKEN_USE_BASIC_AUTH": self.auth_method == "client_secret_basic",
            "OIDC_RP_SIGN_ALGO": "RS256",
        }
        if role_map is not None:
            if isinstance(role_map, Mapping):
                role_map = ",".join(f"{group}={role}" for group, role in role_map.items())
            values["STEWARD_OIDC_ROLE_MAP"] = role_map
        if scopes is not None:
            values["OIDC_RP_SCOPES"] = scopes
        values.update(extra)
        return values

    # --- accounts and the request log (the /test-admin endpoints) -----------------------------------

    def _admin(self, method: str, path: str, payload: Any = None) -> requests.Response:
        response = self._http.request(
            method, f"{self.url}/test-admin/{path}", json=payload, timeout=HTTP_TIMEOUT
        )
        if response.status_code >= 500:
            raise PanvaError(f"test-admin {method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def set_account(self, sub: str, **claims: Any) -> None:
        """Create or replace the account `sub` with exactly these claims (email, email_verified, name,
        preferred_username, given_name, family_name, groups, or anything else). They come back in the
        ID token and from userinfo, filtered by the granted scopes; `groups` only if given here."""
        self._admin("PUT", f"accounts/{_quote(sub)}", claims).raise_for_status()

    def remove_account(self, sub: str) -> None:
        """`sub` becomes unknown: sign-in refuses it, refresh_token grants fail (invalid_grant), userinfo
        answers 401, and an IdP session of `sub` asks for sign-in again (prompt=none: login_required)."""
        response = self._admin("DELETE", f"accounts/{_quote(sub)}")
        if response.status_code not in (200, 404):
            response.raise_for_status()

    def accounts(self) -> dict[str, dict[str, Any]]:
        return self._admin("GET", "accounts").json()

    def requests(self) -> list[dict[str, Any]]:
        """Every request the provider saw except /test-admin ones, oldest first:
        {"method", "path", "query": {name: value}, "url": path?query}."""
        return self._admin("GET", "log").json()

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """requests() to one path, e.g. "/session/end", "/auth", "/token", "/me"."""
        return [entry for entry in self.requests() if entry["path"] == path]

    def events(self) -> list[dict[str, Any]]:
        """Provider events: backchannel.success / backchannel.error (client_id, sub, sid, error),
        end_session.success, grant.revoked, authorization.error, grant.error, userinfo.error, server_error."""
        return self._admin("GET", "events").json()

    def clear_log(self) -> None:
        self._admin("DELETE", "log").raise_for_status()

    # --- back-channel logout --------------------------------------------------------------------------

    def logout_token(self, sub: str, sid: str | None = None) -> str:
        """A logout token signed by the provider (as back-channel logout sends it), for a test to POST to
        Steward itself (Django's test client: the provider cannot reach it)."""
        response = self._admin("POST", "logout-token", {"sub": sub, "sid": sid, "client_id": self.client_id})
        response.raise_for_status()
        return response.json()["logout_token"]

    def send_backchannel_logout(self, sub: str, sid: str | None = None) -> dict[str, Any]:
        """Have the provider POST a logout token to backchannel_logout_uri now (a live server):
        {"ok": True} or {"ok": False, "error": "..."} (the relying party must answer 200 or 204)."""
        response = self._admin(
            "POST", "backchannel-logout", {"sub": sub, "sid": sid, "client_id": self.client_id}
        )
        if response.status_code == 400:
            raise PanvaError(response.json()["error"])
        return response.json()

    # --- the browser side, without a browser --------------------------------------------------------

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def _session(self, session: requests.Session | None) -> requests.Session:
        if session is None:
            session = requests.Session()
            session.trust_env = False
        return session

    def authorize_url(
        self,
        *,
        scope: str = "openid email profile",
        state: str | None = None,
        nonce: str | None = None,
        code_challenge: str | None = None,
        redirect_uri: str | None = None,
        **extra: str,
    ) -> str:
        """An authorization request as Steward would make it (response_type=code, S256 PKCE if given)."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri or self.redirect_uris[0],
            "scope": scope,
            "state": state or secrets.token_urlsafe(16),
            "nonce": nonce or secrets.token_urlsafe(16),
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        params.update(extra)
        return f"{self.discovery()['authorization_endpoint']}?{urlencode(params)}"

    def login(self, session: requests.Session | None, authorize_url: str, sub: str | None) -> str:
        """Play the browser from the authorization request to the redirect back to the relying party.

        GETs `authorize_url` (absolute, or a path on the provider), signs in as `sub` when the sign-in form
        shows, and returns the Location that leaves the provider: the callback URL with code, state and iss
        (or with error=..., e.g. login_required for prompt=none). Keep one requests.Session across calls:
        it holds the provider's session cookie, so a second login skips the form (SSO) — see
        last_login_showed_form. sub=None asserts that no form is needed. Raises LoginRejected when the
        provider does not know `sub`, PanvaError on a provider error page."""
        session = self._session(session)
        url = urljoin(self.url + "/", authorize_url)
        method, data = "GET", None
        self.last_login_showed_form = False
        submitted = False
        for _ in range(20):
            response = session.request(method, url, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
            if response.is_redirect:
                location = urljoin(url, response.headers["Location"])
                if not self._same_origin(location):
                    return location
                method, data, url = "GET", None, location
                continue
            page = _parse(response.text)
            form = next((f for f in page.forms if f["id"] == "login-form"), None)
            if response.status_code == 200 and form is not None:
                if submitted:
                    raise LoginRejected(f"the provider refused {sub!r}: {page.alert or 'the form came back'}")
                if sub is None:
                    raise PanvaError(
                        "the provider asked for sign-in (no IdP session) but login() had sub=None"
                    )
                self.last_login_showed_form = True
                submitted = True
                method, data, url = "POST", {**form["inputs"], "login": sub}, urljoin(url, form["action"])
                continue
            raise PanvaError(f"{response.status_code} at {url}: {' '.join(page.texts)[:500]}")
        raise PanvaError(f"too many redirects from {authorize_url}")

    def end_session(
        self,
        session: requests.Session | None,
        url: str | None = None,
        *,
        id_token_hint: str | None = None,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """Play the browser through RP-initiated logout and return where the provider sends it: the
        post_logout_redirect_uri (with state) or, without one, the provider's /session/end/success.

        `url`: the end_session_endpoint URL Steward redirected to (absolute or a path on the provider);
        without it one is built from the keyword arguments. The confirmation page auto-submits in a
        browser; here its form (xsrf, logout=yes) is posted, which ends the IdP session, revokes the
        grants (refresh tokens too) and sends back-channel logout tokens."""
        session = self._session(session)
        if url is None:
            params = {
                "id_token_hint": id_token_hint,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "state": state,
                "client_id": client_id,
            }
            given = urlencode({k: v for k, v in params.items() if v})
            url = f"{self.discovery()['end_session_endpoint']}?{given}"
        url = urljoin(self.url + "/", url)
        method, data = "GET", None
        for _ in range(10):
            response = session.request(method, url, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
            if response.is_redirect:
                location = urljoin(url, response.headers["Location"])
                if not self._same_origin(location) or urlsplit(location).path.endswith(
                    "/session/end/success"
                ):
                    return location
                method, data, url = "GET", None, location
                continue
            page = _parse(response.text)
            form = next((f for f in page.forms if "xsrf" in f["inputs"]), None)
            if response.status_code == 200 and form is not None:
                method, data = "POST", {**form["inputs"], "logout": "yes"}
                url = urljoin(url, form["action"])
                continue
            raise PanvaError(f"{response.status_code} at {url}: {' '.join(page.texts)[:500]}")
        raise PanvaError("too many redirects during end_session")

    # --- the relying party's back channel, for tests of the harness itself ---------------------------

    def _client_auth(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        if self.auth_method == "client_secret_basic":
            return {}, (self.client_id, self.client_secret)
        return {"client_id": self.client_id, "client_secret": self.client_secret}, None

    def token_request(self, **params: str) -> requests.Response:
        """POST to the token endpoint with the client's authentication (post or basic) added."""
        return self.token_request_to("token_endpoint", **params)

    def token_request_to(self, endpoint: str, **params: str) -> requests.Response:
        """POST to a discovered endpoint ("token_endpoint", "revocation_endpoint",
        "introspection_endpoint") with the client's authentication added."""
        body, auth = self._client_auth()
        return self._http.post(
            self.discovery()[endpoint], data={**params, **body}, auth=auth, timeout=HTTP_TIMEOUT
        )

    def exchange_code(self, callback_url: str, code_verifier: str | None = None) -> requests.Response:
        """Trade the code in a callback URL for tokens (as Steward's callback does)."""
        from urllib.parse import parse_qs

        query = parse_qs(urlsplit(callback_url).query)
        if "code" not in query:
            raise PanvaError(f"no code in {callback_url}")
        params = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": callback_url.split("?", 1)[0],
        }
        if code_verifier:
            params["code_verifier"] = code_verifier
        return self.token_request(**params)

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.token_request(grant_type="refresh_token", refresh_token=refresh_token)

    def userinfo(self, access_token: str) -> requests.Response:
        return self._http.get(
            self.discovery()["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=HTTP_TIMEOUT,
        )

    def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict[str, Any]:
        """Check an ID token's RS256 signature against the provider's JWKS, its iss, aud and exp."""
        import jwt

        jwks = jwt.PyJWKClient(self.discovery()["jwks_uri"])
        key = jwks.get_signing_key_from_jwt(id_token)
        claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=self.client_id, issuer=self.url)
        if nonce is not None and claims.get("nonce") != nonce:
            raise PanvaError(f"nonce {claims.get('nonce')!r} != {nonce!r}")
        return claims

    def stderr(self) -> str:
        """What the node process wrote on stderr (server errors; everything with PANVA_DEBUG=1)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _read_ready_line(process: subprocess.Popen, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"panva's oidc-provider did not start within {timeout:.0f}s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"panva's oidc-provider exited (code {process.wait()}) before it listened")
            buffer += chunk
    return json.loads(buffer.split(b"\n", 1)[0])


def _stop(process: subprocess.Popen, drain: threading.Thread | None) -> None:
    try:
        process.stdin.close()  # node stops on its own when stdin ends
    except OSError:
        pass
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)  # the whole group: start_new_session made node its leader
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(process.pid, signal.SIGKILL)  # anything node might have left in its group
    except (ProcessLookupError, PermissionError):
        pass
    if drain is not None:
        drain.join(2)
    process.stdout.close()


@contextmanager
def running_panva(
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uris: Iterable[str] = DEFAULT_REDIRECT_URIS,
    post_logout_redirect_uris: Iterable[str] = DEFAULT_POST_LOGOUT_REDIRECT_URIS,
    backchannel_logout_uri: str | None = None,
    auth_method: str = "client_secret_post",
    *,
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    require_pkce: bool = True,
    backchannel_logout_session_required: bool = True,
    rotate_refresh_tokens: bool = False,
    ttl: Mapping[str, int] | None = None,
    manual_logout_confirm: bool = False,
    port: int = 0,
    start_timeout: float = START_TIMEOUT,
) -> Iterator[PanvaProvider]:
    """Start the provider (a node subprocess) with one confidential client; stop it on exit.

    auth_method: "client_secret_post" (Steward's default) or "client_secret_basic" (the provider then
    refuses client_secret_post). require_pkce: refuse authorization requests without S256 PKCE.
    backchannel_logout_session_required: logout tokens carry `sid` as well as `sub`.
    ttl: seconds per artifact, e.g. {"AccessToken": 5, "RefreshToken": 60, "Session": 30, "IdToken": 600,
    "AuthorizationCode": 60, "Grant": 3600, "Interaction": 600}. manual_logout_confirm: the logout page
    waits for its "Yes, sign me out" button instead of submitting itself.
    Skips the test when node or node_modules/oidc-provider is missing (fails with STEWARD_REQUIRE_SERVICES=1).
    """
    reason = _missing_reason()
    if reason:
        _skip_or_fail(reason)
    if auth_method not in ("client_secret_post", "client_secret_basic"):
        raise ValueError(f"auth_method {auth_method!r}: client_secret_post or client_secret_basic")
    client = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "token_endpoint_auth_method": auth_method,
        "backchannel_logout_session_required": backchannel_logout_session_required,
    }
    if backchannel_logout_uri:
        client["backchannel_logout_uri"] = backchannel_logout_uri
    config = {
        "port": port,
        "client": client,
        "accounts": {sub: dict(claims) for sub, claims in (accounts or {}).items()},
        "require_pkce": require_pkce,
        "rotate_refresh_tokens": rotate_refresh_tokens,
        "ttl": dict(ttl or {}),
        "manual_logout_confirm": manual_logout_confirm,
    }
    env = {k: v for k, v in os.environ.items() if k != "NODE_ENV"}
    env["PANVA_CONFIG"] = json.dumps(config)
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below, after node is gone)
    process = subprocess.Popen(
        [shutil.which("node"), str(SCRIPT)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,  # node exits when this closes, even if this process is SIGKILLed
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
    )
    drain = None
    try:
        try:
            ready = _read_ready_line(process, start_timeout)
        except (TimeoutError, RuntimeError, ValueError) as exc:
            stderr.seek(0)
            raise RuntimeError(
                f"{exc}\n--- node stderr ---\n{stderr.read().decode('utf-8', 'replace')}"
            ) from exc
        # Nothing else comes on stdout, but drain it anyway so node can never block on a full pipe.
        drain = threading.Thread(target=process.stdout.read, daemon=True)
        drain.start()
        provider = PanvaProvider(
            url=ready["url"],
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=client["redirect_uris"],
            post_logout_redirect_uris=client["post_logout_redirect_uris"],
            backchannel_logout_uri=backchannel_logout_uri,
            auth_method=auth_method,
            process=process,
            _stderr=stderr,
        )
        yield provider
    finally:
        _stop(process, drain)
        stderr.close()
