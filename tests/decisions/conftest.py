"""Helpers for decision tests: a clean cache per test, an agent with grants, a bearer-token client."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from governance.actors import system
from governance.decisions import subjects
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.factories import GrantFactory, IdentityFactory


def clear_caches() -> None:
    """Empty the shared cache and this process's subject cache, so no answer carries over."""
    cache.clear()
    subjects.clear_local()


@pytest.fixture(autouse=True)
def fresh_caches():
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def agent(owner, iam2):
    """An AI agent approved for dev and prod, with a standing grant on platform/* repositories."""
    identity = IdentityFactory(
        name="release-agent",
        kind=Identity.Kind.AI_AGENT,
        owner=owner,
        backup_owner=iam2,
        environments=["dev", "prod"],
        risk_tier=Identity.RiskTier.HIGH,
        source="github",
        external_id="app-42",
    )
    GrantFactory(
        identity=identity,
        resource_kind="repository",
        resource_name="platform/*",
        actions=["read_code", "open_pr", "merge"],
    )
    return identity


@pytest.fixture
def bearer():
    """bearer(user, scope) → an APIClient authenticating with a real API token."""

    def make(user, scope="write"):
        _token, value = issue_token(system("test"), user, scope=scope, days=1)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
        return client

    return make


def question(
    identity, action="read_code", name="platform/api", environment="dev", kind="repository", **extra
):
    return {
        "identity": identity.pk,
        "action": action,
        "resource": {"kind": kind, "name": name},
        "environment": environment,
        **extra,
    }
