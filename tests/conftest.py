"""Shared fixtures: named role users, API clients, a token helper, and moto's IAM server."""

import os
import tempfile
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from governance.people.models import Role
from tests.factories import IdentityFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_hashing(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Failed-login lockout (django-axes) is off in tests; tests/security switches it back on.
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _signing_keys(settings, tmp_path):
    """Each test signs with its own keys (generated on first use), never the developer's var/ ones."""
    from governance import signing

    settings.STEWARD_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    signing.clear_cache()


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Each test writes uploads and evidence packs in its own folder, never the checkout's var/media.

    Files there are named by database ids and dates, which every xdist worker (each with its own
    database) shares: two workers building "evidence export 1" into one folder raced on the same
    partial file, and the loser's pack failed (the matrix's evidence row, 404 for every role).
    """
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    # The default storage has its own location (STORAGES), which MEDIA_ROOT does not move.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": media}},
    }


@pytest.fixture
def team(db):
    return TeamFactory(slug="platform", name="Platform")


@pytest.fixture
def other_team(db):
    return TeamFactory(slug="payments", name="Payments")


@pytest.fixture
def owner(db, team):
    return UserFactory(username="owner", roles=[Role.OWNER], team=team)


@pytest.fixture
def owner2(db, other_team):
    return UserFactory(username="owner2", roles=[Role.OWNER], team=other_team)


@pytest.fixture
def iam(db, team):
    return UserFactory(username="iam", roles=[Role.IAM, Role.OWNER], team=team)


@pytest.fixture
def iam2(db, team):
    return UserFactory(username="iam2", roles=[Role.IAM, Role.OWNER], team=team)


@pytest.fixture
def security(db, team):
    return UserFactory(username="security", roles=[Role.SECURITY, Role.OWNER], team=team)


@pytest.fixture
def auditor(db, team):
    return UserFactory(username="auditor", roles=[Role.AUDITOR], team=team)


@pytest.fixture
def outsider(db, team):
    return UserFactory(username="outsider", roles=[], team=team)


@pytest.fixture
def role_users(owner, owner2, iam, iam2, security, auditor, outsider):
    return {
        "owner": owner,
        "owner2": owner2,
        "iam": iam,
        "iam2": iam2,
        "security": security,
        "auditor": auditor,
        "outsider": outsider,
    }


@pytest.fixture
def client_as(client, role_users):
    """The test client signed in as one of `role_users`, by name: client_as("auditor").get("/audit/")."""

    def sign_in(username):
        client.force_login(role_users[username])
        return client

    return sign_in


@pytest.fixture(params=["anonymous", "signed-in"])
def anyone(request, client, iam):
    """The test client, once anonymous and once signed in (as `iam`): for answers that must not differ."""
    if request.param == "signed-in":
        client.force_login(iam)
    return client


@pytest.fixture
def identity(owner):
    return IdentityFactory(owner=owner, name="claude-code-platform")


@pytest.fixture
def api():
    """An API client; call api.force_authenticate(user) or use api_as(user)."""
    return APIClient()


@pytest.fixture
def api_as():
    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def bearer(value: str) -> APIClient:
    """An API client presenting `value` (an API token, or a workload's access token) as a bearer."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def patch_identity(client, identity, changes: dict):
    """PATCH an identity through the API, as JSON."""
    return client.patch(f"/api/v1/identities/{identity.pk}/", changes, format="json")


@pytest.fixture(scope="session")
def moto_url():
    """moto's IAM server on loopback, one per test session."""
    from tests.connectors.moto_support import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url, monkeypatch):
    """An empty IAM at moto's server, boto3's default chain pointed at placeholder credentials."""
    from tests.connectors.moto_support import FAKE_CREDENTIALS, iam_client, reset

    reset(moto_url)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return iam_client(moto_url)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On SQLite, test in a file (one per worker, on tmpfs where there is one), never in memory.

    Django shares one in-memory connection between the test thread and every live-server thread.
    Two threads in one sqlite3 connection can deadlock on the GIL and SQLite's own mutex (a
    dashboard's cards load in parallel), which hung CI. A file gives each thread its own
    connection, and lets a real Celery worker process open the same database.
    """
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3" or db.get("TEST", {}).get("NAME"):
        return
    folder = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    db.setdefault("TEST", {})["NAME"] = str(folder / f"steward-test-{os.getpid()}-{worker}.sqlite3")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Browser tests share one Chromium: mark them, and keep them on one xdist group.

    tryfirst: xdist reads the xdist_group mark in its own collection hook, so ours must run first.
    """
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def requires_services() -> bool:
    return os.environ.get("STEWARD_REQUIRE_SERVICES") == "1"
