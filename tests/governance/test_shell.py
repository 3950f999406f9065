import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_without_login(client):
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert "broker" in body["checks"]
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
