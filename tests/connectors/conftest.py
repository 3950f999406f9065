import pytest

from connectors.models import Connector, ConnectorRun
from governance.models import AuditEvent
from inventory.models import Credential, Identity

# moto_url and aws (moto's IAM server) are in tests/conftest.py: the browser journey uses them too.


def sync(client, connector: Connector, capture, *, dry_run: bool = False) -> ConnectorRun:
    """Start a run through the API (its work after commit runs inline) and return it as it ended."""
    url = f"/api/v1/connectors/{connector.pk}/sync/" + ("?dry_run=1" if dry_run else "")
    with capture(execute=True):
        response = client.post(url)
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "running" and response.json()["dry_run"] is dry_run
    run = ConnectorRun.objects.get(pk=response.json()["id"])
    run.refresh_from_db()
    return run


def assert_a_second_sync_changes_nothing(client, connector: Connector, capture, *, seen: int) -> None:
    """Sync twice: the second run sees `seen` identities and writes nothing (no identity's version
    moves, no credential and no identity event is added)."""
    sync(client, connector, capture)
    versions = dict(Identity.objects.values_list("pk", "version"))
    credentials = Credential.objects.count()
    events = AuditEvent.objects.filter(subject_type="inventory.identity").count()

    second = sync(client, connector, capture)

    assert (second.state, second.seen, second.discovered, second.changed, second.vanished) == (
        "succeeded",
        seen,
        0,
        0,
        0,
    )
    assert second.report == []
    assert dict(Identity.objects.values_list("pk", "version")) == versions
    assert Credential.objects.count() == credentials
    assert AuditEvent.objects.filter(subject_type="inventory.identity").count() == events


def enforcing(connector: Connector) -> Connector:
    """The connector with enforcement on: Steward's suspensions and revocations are pushed to the source."""
    connector.enforce = True
    connector.save()
    return connector


@pytest.fixture
def connector(iam, moto_url, aws):
    from connectors.services import create_connector

    return create_connector(
        iam,
        {"name": "aws-test", "kind": "aws_iam", "config": {"endpoint_url": moto_url}, "schedule": "manual"},
    )


# ---------------------------------------------------------------- github_org: a loopback GitHub


@pytest.fixture(scope="session")
def github_description():
    """GitHub's OpenAPI description (npm @octokit/openapi); skipped without node_modules (fails with
    STEWARD_REQUIRE_SERVICES=1)."""
    import os

    from tests.connectors import github_openapi

    reason = github_openapi.missing()
    if reason:
        if os.environ.get("STEWARD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (STEWARD_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return github_openapi.description()


@pytest.fixture(scope="session")
def github_app_key(tmp_path_factory):
    """A throwaway RSA key for the test app: (path of the private key file, public key)."""
    from tests.connectors.github_server import private_key_pem

    pem, public = private_key_pem()
    path = tmp_path_factory.mktemp("github-app") / "app.pem"
    path.write_text(pem)
    path.chmod(0o600)
    return path, public


@pytest.fixture(scope="session")
def github_live(github_description, github_app_key):
    from tests.connectors.github_server import github_server

    with github_server(github_description, github_app_key[1]) as (url, state):
        yield url, state


@pytest.fixture
def github(github_live, github_app_key, monkeypatch):
    """The loopback GitHub's organisation, empty but for Steward's own app; the worker's environment
    names the app. Every request and answer of the test must agree with GitHub's description."""
    from connectors.kinds.github_org import APP_ID_ENV, PRIVATE_KEY_ENV
    from tests.connectors.github_server import APP_ID

    url, state = github_live
    state.reset()
    state.url = url
    monkeypatch.setenv(APP_ID_ENV, str(APP_ID))
    monkeypatch.setenv(PRIVATE_KEY_ENV, str(github_app_key[0]))
    yield state
    assert state.problems() == [], "the loopback GitHub drifted from GitHub's OpenAPI description"


@pytest.fixture
def github_connector(iam, github):
    from connectors.services import create_connector

    return create_connector(
        iam,
        {
            "name": "gh-test",
            "kind": "github_org",
            "config": {"org": "acme", "base_url": github.url, "per_page": 2},
            "schedule": "manual",
        },
    )
