import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "owner", "auditor"])
def test_healthz_tells_everyone_but_iam_and_security_only_the_status(client, role_users, who):
    if who != "anonymous":
        client.force_login(role_users[who])
    response = client.get("/healthz")
    # No `debug`, no database vendor, no check names: the status (and the HTTP code) only.
    assert response.json() == {"status": "ok" if response.status_code == 200 else "degraded"}
    assert response.status_code in (200, 503)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["iam", "security"])
def test_healthz_shows_iam_and_security_the_database_and_broker(client, role_users, who):
    client.force_login(role_users[who])
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True and body["checks"]["database"]["vendor"]
    assert "broker" in body["checks"] and "debug" in body
    assert response.status_code in (200, 503)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/audit/", "/admin/"])
def test_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_login_page_and_demo_login(client, owner):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "owner", "password": "pw-for-tests-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_schema_and_docs_are_served(api_as, iam):
    client = api_as(iam)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/audit-events/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn." not in docs.content  # assets are served locally


def _run_settings(env):
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_the_default_secret_key():
    result = _run_settings({"STEWARD_ENV": "production", "SECRET_KEY": "", "DEBUG": "0"})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = _run_settings({"STEWARD_ENV": "production", "SECRET_KEY": "x" * 50, "DEBUG": "1"})
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_production_starts_with_a_real_key():
    result = _run_settings({"STEWARD_ENV": "production", "SECRET_KEY": "k" * 50, "DEBUG": "0"})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404(anyone):
    response = anyone.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_unknown_page_is_the_styled_404(client, iam):
    client.force_login(iam)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "There is nothing at this address." in response.content.decode()


@pytest.mark.django_db
def test_server_errors_are_json_under_the_api_and_a_page_elsewhere(client, iam, monkeypatch):
    from rest_framework.test import APIClient

    from governance.api import AuditEventViewSet

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(AuditEventViewSet, "list", explode)
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(iam)
    response = api.get("/api/v1/audit-events/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert "boom" not in response.content.decode() and response.json()["detail"]

    monkeypatch.setattr("governance.views.AuditEventFilter", explode)
    client.raise_request_exception = False
    client.force_login(iam)
    page = client.get("/audit/")
    assert page.status_code == 500 and "Something went wrong" in page.content.decode()


@pytest.mark.django_db
def test_logout_ends_the_session(client, owner):
    client.force_login(owner)
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_healthz_sees_the_embedded_broker_and_reports_an_unreachable_one(client, iam, monkeypatch):
    client.force_login(iam)
    body = client.get("/healthz").json()
    assert body["checks"]["database"]["ok"] is True and body["checks"]["broker"]["ok"] is True

    from config.celery import app

    # Nothing listens on port 1: the broker check must fail, quickly, and turn the status to 503.
    monkeypatch.setattr(app.conf, "broker_url", "amqp://guest:guest@127.0.0.1:1//")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "degraded"
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True
    # A load balancer (anonymous) still sees the 503, without the reason.
    client.logout()
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "degraded"}
