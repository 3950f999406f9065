from __future__ import annotations

from urllib.parse import urlencode

import pytest

from governance.actors import system
from tests.workload.servers import SetReceiverServer, TestIssuer
from workload import exchange as exchange_module
from workload import issuers, services, tokens
from workload.models import TrustedIssuer


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


EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def exchange(client, subject_token: str, **extra):
    """POST the exchange as a workload does: a form, no credentials of its own."""
    form = {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE, **extra}
    return client.post("/api/v1/token/", urlencode(form), content_type="application/x-www-form-urlencoded")
