from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from governance.actors import system
from tests.workload.servers import SetReceiverServer, TestIssuer
from workload import exchange as exchange_module
from workload import issuers, services, tokens
from workload.exchange import GRANT_TYPE
from workload.models import TrustedIssuer
from workload.tokens import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE


@pytest.fixture(autouse=True)
def _fresh_caches():
    for module in (issuers, tokens, exchange_module):
        module.clear_cache()
    yield
    for module in (issuers, tokens, exchange_module):
        module.clear_cache()


@pytest.fixture
def oidc_issuer():
    server = TestIssuer("RSA").start()
    yield server
    server.stop()


@pytest.fixture
def spiffe_issuer():
    server = TestIssuer("EC").start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    server = SetReceiverServer().start()
    yield server
    server.stop()


def trust(
    server: TestIssuer,
    proposer,
    approver,
    *,
    template: str = "custom",
    name: str | None = None,
    audience: str = "steward",
) -> TrustedIssuer:
    issuer = services.propose_issuer(
        proposer,
        {
            "name": name or f"issuer {server.url}",
            "template": template,
            "issuer": server.url,
            "jwks_uri": server.jwks_uri,
            "audience": audience,
        },
    )
    return services.approve_issuer(approver, issuer.pk)


@pytest.fixture
def trusted(oidc_issuer, security, iam):
    return trust(oidc_issuer, security, iam, template="github_actions")


def bind(issuer: TrustedIssuer, identity, claims: dict, actor=None):
    return services.create_binding(
        actor or system("test"), identity=identity, issuer_id=issuer.pk, claims=claims
    )


# The CI job's question in the journeys: may it merge to acme/payments in prod?
MERGE_PROD = {
    "action": "merge",
    "resource": {"kind": "repository", "name": "acme/payments"},
    "environment": "prod",
}


def exchange(client, subject_token: str, **extra):
    """POST the exchange as a workload does: a form, no credentials of its own."""
    form = {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": JWT_TOKEN_TYPE,
        **extra,
    }
    return client.post("/api/v1/token/", urlencode(form), content_type="application/x-www-form-urlencoded")


def exchange_acting_for(subject_token: str, actor_token: str, actor_token_type: str = JWT_TOKEN_TYPE):
    """The exchange of a workload acting for another party: a person (their delegation token, a JWT)
    or, for a sub-agent, its parent agent (its Steward access token, ACCESS_TOKEN_TYPE)."""
    return exchange(Client(), subject_token, actor_token=actor_token, actor_token_type=actor_token_type)


def sub_agent_exchange(oidc_issuer: TestIssuer, parent_repo: str, child_repo: str):
    """The parent agent's job in dev exchanges its token, then its sub-agent's job exchanges acting for
    it; returns the sub-agent's exchange response."""
    parent = exchange(Client(), oidc_issuer.github(repository=parent_repo, environment="dev"))
    return exchange_acting_for(
        oidc_issuer.github(repository=child_repo, environment="dev"),
        parent.json()["access_token"],
        ACCESS_TOKEN_TYPE,
    )


def delegation_token(user, identity=None) -> str:
    """The delegation token a signed-in person asks for (for one identity, or the first that uses it)."""
    client = Client()
    client.force_login(user)
    response = client.post("/api/v1/token/delegation/", {"identity": identity.pk} if identity else {})
    assert response.status_code == 201, response.content
    assert response.json()["expires_in"] == 300
    return response.json()["delegation_token"]
