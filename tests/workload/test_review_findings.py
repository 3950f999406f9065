"""What a security review of workload identity found, each pinned by a test: NUL characters in claims,
a re-encoded ECDSA signature replaying a JWT-SVID, a broken JWKS endpoint or SET receiver, sub-agent
tokens outliving their parent's, new tokens while a drift finding is open, JIT requests in an
unrelated person's name, tokens of a revoked binding, policy sets without chains, grandparent scope,
a review ending a JIT grant, introspecting another workload's token, a delegation reused elsewhere."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import jwt
import pytest
from django.test import Client

from governance.decisions import jit
from governance.findings.models import Finding
from governance.models import AuditEvent
from tests.conftest import bearer
from tests.factories import GrantFactory, IdentityFactory, request_merge_access
from tests.workload.conftest import (
    MERGE_PROD,
    bind,
    delegation_token,
    exchange,
    exchange_acting_for,
    sub_agent_exchange,
    trust,
)
from workload import drift, services
from workload.models import IssuedToken, SetDelivery, TrustBinding, TrustedIssuer
from workload.tokens import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE

pytestmark = pytest.mark.django_db

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def ci(owner):
    identity = IdentityFactory(owner=owner, name="ci", kind="workload", environments=["dev", "prod"])
    GrantFactory(identity=identity, resource_name="acme/payments", actions=["read_code", "open_pr", "merge"])
    return identity


@pytest.fixture
def ci_token(oidc_issuer, trusted, ci):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    return exchange(Client(), oidc_issuer.github()).json()["access_token"]


def test_a_nul_in_a_claim_is_invalid_request_not_500(client, trusted):
    header = b64(json.dumps({"alg": "RS256", "kid": "k"}).encode())
    for claims in ({"iss": "https://x\u0000y", "sub": "a"}, {"iss": trusted.issuer, "sub": "a\u0000b"}):
        token = f"{header}.{b64(json.dumps(claims).encode())}.c2ln"
        response = exchange(client, token)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_re_encoded_ecdsa_signature_does_not_replay_a_jwt_svid(client, spiffe_issuer, security, iam, owner):
    issuer = trust(spiffe_issuer, security, iam, template="spiffe", name="example.org")
    bind(issuer, IdentityFactory(owner=owner), {"sub": "spiffe://example.org/ns/payments/sa/deployer"})
    svid = spiffe_issuer.spiffe()
    head, payload, signature = svid.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin = f"{head}.{payload}.{b64(r + (P256_N - s).to_bytes(32, 'big'))}"
    assert exchange(client, svid).status_code == 200
    again = exchange(client, twin)
    assert again.status_code == 400 and "replay" in again.json()["error_description"]


def _garbage_server():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"GARBAGE\r\n\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_jwks_endpoint_answering_garbage_is_temporarily_unavailable(client, security, iam, owner):
    listener, url = _garbage_server()
    try:
        issuer = services.propose_issuer(
            security, {"name": "broken", "issuer": url, "jwks_uri": f"{url}/jwks", "audience": "steward"}
        )
        services.approve_issuer(iam, issuer.pk)
        token = jwt.encode(
            {"iss": url, "sub": "x", "aud": "steward", "iat": int(time.time()), "exp": int(time.time()) + 60},
            "k" * 32,
            algorithm="HS256",
            headers={"kid": "k"},
        )
        token = token.replace(token.split(".")[0], b64(json.dumps({"alg": "RS256", "kid": "k"}).encode()), 1)
        response = exchange(client, token)
        assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
        assert TrustedIssuer.objects.get(pk=issuer.pk).jwks_error
    finally:
        listener.close()


def test_a_receiver_answering_garbage_does_not_stop_the_outbox(
    ci_token, ci, iam, security, receiver, django_capture_on_commit_callbacks
):
    from inventory import services as inventory_services

    listener, url = _garbage_server()
    try:
        services.add_receiver(security, {"name": "broken", "endpoint": f"{url}/events"})
        services.add_receiver(security, {"name": "good", "endpoint": receiver.endpoint})
        with django_capture_on_commit_callbacks(execute=True):
            inventory_services.suspend(iam, ci, reason="drift")
    finally:
        listener.close()
    broken = SetDelivery.objects.get(receiver__name="broken")
    assert broken.state == "pending" and broken.attempts == 1 and broken.last_error
    assert SetDelivery.objects.get(receiver__name="good").state == "delivered"


def test_revoking_a_parents_tokens_revokes_its_sub_agents(trusted, oidc_issuer, owner, iam):
    planner = IdentityFactory(owner=owner, name="planner")
    coder = IdentityFactory(owner=owner, name="coder")
    bind(trusted, planner, {"sub": "repo:acme/planner:environment:dev"})
    bind(trusted, coder, {"sub": "repo:acme/coder:environment:dev"})
    child = sub_agent_exchange(oidc_issuer, "acme/planner", "acme/coder").json()["access_token"]
    drift.end_sessions(iam, [planner.pk], cause="out_of_scope_use", reason="drift")
    claims = jwt.decode(child, options={"verify_signature": False})
    assert IssuedToken.objects.get(jti=claims["jti"]).revoked_at is not None
    assert AuditEvent.objects.filter(verb="workload.sessions_ended", subject_id=str(coder.pk)).exists()


def test_no_new_token_while_a_drift_finding_is_open(client, oidc_issuer, ci_token, ci):
    Finding.objects.create(rule="out_of_scope_use", identity=ci, severity="high")
    response = exchange(client, oidc_issuer.github())
    assert response.status_code == 400 and "out of scope use" in response.json()["error_description"]


def test_a_workload_acting_for_an_unrelated_person_cannot_ask_jit_in_their_name(
    trusted, oidc_issuer, ci, owner2
):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    delegation = delegation_token(owner2)
    token = exchange_acting_for(oidc_issuer.github(), delegation).json()["access_token"]
    response = bearer(token).post(
        "/api/v1/access-requests/",
        {
            "action": "merge",
            "resource": {"kind": "repository", "name": "acme/payments"},
            "environment": "prod",
            "duration_minutes": 30,
            "reason": "r",
        },
        format="json",
    )
    assert response.status_code == 403
    assert not jit.AccessRequest.objects.exists()


def test_a_token_of_a_binding_revoked_meanwhile_stops(ci_token, ci, iam):
    TrustBinding.objects.filter(identity=ci).update(state=TrustBinding.State.REVOKED)  # the race's outcome
    client = Client()
    client.force_login(iam)
    assert client.post("/api/v1/token/introspect/", {"token": ci_token}).json() == {"active": False}


def test_a_chained_caller_under_a_policy_set_without_chains_is_denied(
    trusted, oidc_issuer, owner, monkeypatch
):
    from governance.policy import cedar

    assistant = IdentityFactory(owner=owner, environments=["dev"])
    GrantFactory(identity=assistant, resource_name="acme/assistant", actions=["read_code"])
    bind(trusted, assistant, {"sub": "repo:acme/assistant:environment:dev"})
    delegation = delegation_token(owner)
    token = exchange_acting_for(
        oidc_issuer.github(repository="acme/assistant", environment="dev"), delegation
    ).json()["access_token"]
    monkeypatch.setattr(cedar.CompiledPolicySet, "takes_chain", False, raising=False)
    original = cedar.CompiledPolicySet.__init__

    def without_chain(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.takes_chain = False

    monkeypatch.setattr(cedar.CompiledPolicySet, "__init__", without_chain)
    cedar._COMPILED.clear()
    ask = {
        "action": "read_code",
        "environment": "dev",
        "resource": {"kind": "repository", "name": "acme/assistant"},
    }
    answer = bearer(token).post("/api/v1/decisions/", ask, format="json").json()
    cedar._COMPILED.clear()
    assert answer["decision"] == "deny" and answer["policies"] == ["delegation_chain_unsupported"]


def test_a_grandchild_stays_within_the_root_agents_scope(trusted, oidc_issuer, owner):
    agents = {}
    for name in ("root", "middle", "leaf"):
        agents[name] = IdentityFactory(owner=owner, name=name, environments=["dev"])
        bind(trusted, agents[name], {"sub": f"repo:acme/{name}:environment:dev"})
    GrantFactory(identity=agents["middle"], resource_name="acme/secret-plans", actions=["read_code"])
    GrantFactory(identity=agents["leaf"], resource_name="acme/secret-plans", actions=["read_code"])
    token = None
    for name in ("root", "middle", "leaf"):
        extra = {"actor_token": token, "actor_token_type": ACCESS_TOKEN_TYPE} if token else {}
        token = exchange(
            Client(), oidc_issuer.github(repository=f"acme/{name}", environment="dev"), **extra
        ).json()["access_token"]
    ask = {
        "action": "read_code",
        "environment": "dev",
        "resource": {"kind": "repository", "name": "acme/secret-plans"},
    }
    answer = bearer(token).post("/api/v1/decisions/", ask, format="json").json()
    assert answer["decision"] == "deny" and "subagent_within_parent_scope" in answer["policies"]


def test_a_review_ending_a_jit_grant_ends_the_sessions(ci_token, ci, owner, iam):
    from inventory import services as inventory_services

    ar = jit.approve(
        iam,
        request_merge_access(owner, ci, **MERGE_PROD, reason="r"),
        "ok",
    )
    inventory_services.end_grants(iam, ci, [ar.grant_id], reason="review: not needed")
    assert IssuedToken.objects.get(
        jti=jwt.decode(ci_token, options={"verify_signature": False})["jti"]
    ).revoked_at


def test_a_workload_introspects_only_its_own_tokens(ci_token, trusted, oidc_issuer, owner):
    other = IdentityFactory(owner=owner)
    bind(trusted, other, {"sub": "repo:acme/other:environment:prod"})
    theirs = exchange(Client(), oidc_issuer.github(repository="acme/other")).json()["access_token"]
    mine = bearer(ci_token).post("/api/v1/token/introspect/", {"token": ci_token}, format="json").json()
    assert mine["active"] is True
    assert bearer(ci_token).post("/api/v1/token/introspect/", {"token": theirs}, format="json").json() == {
        "active": False
    }


def test_a_delegation_serves_the_first_identity_that_uses_it(trusted, oidc_issuer, owner):
    first = IdentityFactory(owner=owner)
    second = IdentityFactory(owner=owner)
    bind(trusted, first, {"sub": "repo:acme/first:environment:dev"})
    bind(trusted, second, {"sub": "repo:acme/second:environment:dev"})
    delegation = delegation_token(owner)
    actor = {"actor_token": delegation, "actor_token_type": JWT_TOKEN_TYPE}
    assert (
        exchange(
            Client(), oidc_issuer.github(repository="acme/first", environment="dev"), **actor
        ).status_code
        == 200
    )
    again = exchange(Client(), oidc_issuer.github(repository="acme/second", environment="dev"), **actor)
    assert again.status_code == 400 and "another identity" in again.json()["error_description"]
