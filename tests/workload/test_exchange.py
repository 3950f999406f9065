"""Token exchange (RFC 8693) against a real issuer on loopback: GitHub Actions, Kubernetes and SPIFFE
token shapes are exchanged for Steward access tokens; each way a token can be wrong is refused with the
right OAuth error, audited, and never a 500."""

from __future__ import annotations

import time

import jwt
import pytest
from django.test import Client

from governance.models import AuditEvent
from tests.factories import IdentityFactory
from tests.workload.conftest import bind, exchange, trust
from tests.workload.servers import _Key
from workload import exchange as exchange_module
from workload import issuers
from workload.models import IssuedToken, TrustBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def ci(owner):
    return IdentityFactory(owner=owner, name="payments-deploy", kind="workload", environments=["prod"])


@pytest.fixture
def client():
    return Client()


def _jwks(client):
    return client.get("/.well-known/jwks.json").json()


def test_a_github_actions_token_becomes_a_15_minute_steward_token(client, oidc_issuer, trusted, ci):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    response = exchange(client, oidc_issuer.github())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert 0 < body["expires_in"] <= 900
    assert response["Cache-Control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    key = next(k for k in _jwks(client)["keys"] if k["kid"] == header["kid"])  # published
    claims = jwt.decode(body["access_token"], jwt.PyJWK(key).key, algorithms=["ES256"], audience="steward")
    assert claims["sub"] == f"identity:{ci.pk}"
    assert claims["exp"] - claims["iat"] <= 900
    assert claims["chain"] == [{"kind": "identity", "sub": f"identity:{ci.pk}", "name": ci.name, "id": ci.pk}]
    assert "act" not in claims  # nobody behind a CI job
    binding = TrustBinding.objects.get()
    assert binding.last_exchange_at is not None and binding.issued_tokens.count() == 1
    event = AuditEvent.objects.filter(verb="workload.token_exchanged").get()
    assert event.subject_id == str(ci.pk) and event.after["sub"] == "repo:acme/payments:environment:prod"


def test_job_workflow_ref_binds_a_reusable_workflow(client, oidc_issuer, trusted, ci):
    bind(trusted, ci, {"job_workflow_ref": "acme/payments/.github/workflows/deploy.yml@refs/heads/main"})
    assert exchange(client, oidc_issuer.github()).status_code == 200
    assert exchange(client, oidc_issuer.github(ref="refs/heads/feature")).json()["error"] == "invalid_grant"


def test_a_kubernetes_service_account_token(client, oidc_issuer, security, iam, owner):
    issuer = trust(oidc_issuer, security, iam, template="kubernetes", name="prod cluster")
    workload = IdentityFactory(owner=owner, kind="service_account")
    bind(issuer, workload, {"sub": "system:serviceaccount:payments:deployer"})
    response = exchange(client, oidc_issuer.kubernetes())
    assert response.status_code == 200, response.json()
    assert exchange(client, oidc_issuer.kubernetes(namespace="other")).status_code == 400


def test_a_spiffe_jwt_svid_without_jti_cannot_be_replayed(client, spiffe_issuer, security, iam, owner):
    issuer = trust(spiffe_issuer, security, iam, template="spiffe", name="example.org")
    workload = IdentityFactory(owner=owner, kind="workload")
    bind(issuer, workload, {"sub": "spiffe://example.org/ns/payments/sa/deployer"})
    svid = spiffe_issuer.spiffe()
    assert exchange(client, svid).status_code == 200
    again = exchange(client, svid)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "replay" in again.json()["error_description"]


def test_a_pasted_key_set_works_without_a_uri(client, oidc_issuer, security, iam, owner):
    from workload import services

    issuer = services.propose_issuer(
        security,
        {
            "name": "pasted",
            "issuer": oidc_issuer.url,
            "jwks": {"keys": [oidc_issuer.signing.public_jwk]},
            "audience": "steward",
        },
    )
    services.approve_issuer(iam, issuer.pk)
    workload = IdentityFactory(owner=owner)
    bind(issuer, workload, {"sub": "repo:acme/payments:environment:prod"})
    fetches = oidc_issuer.jwks_fetches
    assert exchange(client, oidc_issuer.github()).status_code == 200
    assert oidc_issuer.jwks_fetches == fetches  # never read from the network


# ---------------------------------------------------------------- refusals


def _refused(client, token, error="invalid_grant", words=""):
    before = AuditEvent.objects.filter(verb="workload.exchange_refused").count()
    response = exchange(client, token)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == error, body
    assert words.lower() in body["error_description"].lower(), body
    assert AuditEvent.objects.filter(verb="workload.exchange_refused").count() == before + 1
    assert not IssuedToken.objects.exists()
    return body


@pytest.fixture
def bound(trusted, ci):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    return ci


def _signed_by(oidc_issuer, key) -> str:
    """The bound job's subject, for Steward, from this issuer: signed with `key`, not the issuer's."""
    now = int(time.time())
    claims = {"sub": "repo:acme/payments:environment:prod", "aud": "steward", "iss": oidc_issuer.url}
    return oidc_issuer.sign({**claims, "iat": now, "exp": now + 300}, key=key)


def test_a_wrong_key_is_refused(client, oidc_issuer, bound):
    stranger = _Key("RSA")
    stranger.kid = oidc_issuer.signing.kid  # claims a published kid, signed by another key
    _refused(client, _signed_by(oidc_issuer, stranger), words="signature")


def test_wrong_audience_expired_not_yet_valid_and_future_iat_are_refused(client, oidc_issuer, bound):
    _refused(client, oidc_issuer.github(aud="someone-else"), words="audience")
    _refused(client, oidc_issuer.github(now=time.time() - 3600), words="expired")
    _refused(client, oidc_issuer.github(nbf=int(time.time()) + 600, exp=int(time.time()) + 900), words="nbf")
    _refused(
        client, oidc_issuer.github(iat=int(time.time()) + 600, exp=int(time.time()) + 900), words="future"
    )
    _refused(client, oidc_issuer.github(lifetime=3 * 86400), words="24 hours")


def test_small_clock_skew_is_tolerated(client, oidc_issuer, bound):
    assert (
        exchange(client, oidc_issuer.github(iat=int(time.time()) + 20, nbf=int(time.time()) + 20)).status_code
        == 200
    )


def test_a_replayed_token_is_refused_within_its_lifetime(client, oidc_issuer, bound):
    token = oidc_issuer.github()
    assert exchange(client, token).status_code == 200
    response = exchange(client, token)
    assert response.status_code == 400 and "replay" in response.json()["error_description"]


def test_an_unbound_token_is_refused(client, oidc_issuer, bound):
    _refused(client, oidc_issuer.github(repository="acme/other"), words="no trust binding")


def test_an_issuer_not_yet_approved_is_not_trusted(client, oidc_issuer, security, ci):
    from workload import services

    services.propose_issuer(
        security,
        {
            "name": "pending",
            "issuer": oidc_issuer.url,
            "jwks_uri": oidc_issuer.jwks_uri,
            "audience": "steward",
        },
    )
    _refused(client, oidc_issuer.github(), words="not trusted")


def test_symmetric_and_none_algorithms_are_refused(client, oidc_issuer, bound):
    claims = {
        "sub": "repo:acme/payments:environment:prod",
        "aud": "steward",
        "iss": oidc_issuer.url,
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
    }
    _refused(
        client,
        jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256"),
        words="algorithm",
    )
    _refused(client, jwt.encode(claims, None, algorithm="none"), words="algorithm")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token": "not-a-jwt"}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"actor_token": "x"}, "invalid_request"),
    ],
)
def test_malformed_requests_are_invalid_request(client, oidc_issuer, bound, form, error):
    fields = {
        "grant_type": exchange_module.GRANT_TYPE,
        "subject_token": oidc_issuer.github(),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        **form,
    }
    from urllib.parse import urlencode

    response = client.post(
        "/api/v1/token/", urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_json_and_garbage_bodies_never_500(client, bound):
    assert client.post("/api/v1/token/", "{not json", content_type="application/json").status_code == 400
    assert client.post("/api/v1/token/", {"subject_token": ["a", "b"]}).status_code == 400
    assert client.get("/api/v1/token/").status_code == 405


def test_a_suspended_identity_gets_no_token(client, oidc_issuer, bound, iam):
    from inventory import services as inventory_services

    inventory_services.suspend(iam, bound, reason="incident")
    _refused(client, oidc_issuer.github(), words="suspended")


def test_two_identities_matching_is_a_refusal_not_a_choice(client, oidc_issuer, trusted, ci, owner):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    other = IdentityFactory(owner=owner)
    bind(trusted, other, {"sub": "repo:acme/payments:environment:prod", "repository": "acme/payments"})
    _refused(client, oidc_issuer.github(), words="more than one identity")


# ---------------------------------------------------------------- keys


def test_key_rotation_rereads_the_issuers_keys(client, oidc_issuer, bound):
    assert exchange(client, oidc_issuer.github()).status_code == 200
    oidc_issuer.rotate(keep_old=False)
    issuers._last_refresh.clear()  # the refresh floor has passed
    assert exchange(client, oidc_issuer.github()).status_code == 200


def test_unknown_kids_cannot_hammer_the_issuer(client, oidc_issuer, bound):
    assert exchange(client, oidc_issuer.github()).status_code == 200
    fetches = oidc_issuer.jwks_fetches
    stranger = _Key("RSA")
    for _ in range(5):
        token = _signed_by(oidc_issuer, stranger)
        assert exchange(client, token).status_code == 400
    assert oidc_issuer.jwks_fetches <= fetches + 1  # at most one refresh within the floor


def test_an_unreachable_jwks_is_temporarily_unavailable_not_500(client, oidc_issuer, bound):
    url = oidc_issuer.url
    oidc_issuer.stop()
    issuers.clear_cache()
    from workload.models import TrustedIssuer

    TrustedIssuer.objects.update(jwks_cache=None, jwks_fetched_at=None)
    claims_token = jwt.encode(
        {"iss": url, "sub": "x", "aud": "steward", "exp": int(time.time()) + 60, "iat": int(time.time())},
        _Key("RSA").private,
        algorithm="RS256",
        headers={"kid": "k"},
    )
    response = exchange(client, claims_token)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_an_idp_id_token_is_not_an_actor_token(client, oidc_issuer, bound):
    idp_token = oidc_issuer.sign(
        {
            "iss": oidc_issuer.url,
            "sub": "alice",
            "aud": "steward",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "nonce": "n",
        }
    )
    response = exchange(
        client,
        oidc_issuer.github(),
        actor_token=idp_token,
        actor_token_type="urn:ietf:params:oauth:token-type:jwt",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "delegation token" in response.json()["error_description"]
