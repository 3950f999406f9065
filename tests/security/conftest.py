import pytest

from tests.oidc_provider import running_provider


@pytest.fixture(scope="session")
def oidc_provider():
    with running_provider() as provider:
        yield provider


@pytest.fixture
def sso(settings, oidc_provider):
    """SSO switched on against the loopback provider."""
    for name, value in oidc_provider.settings().items():
        setattr(settings, name, value)
    return oidc_provider
