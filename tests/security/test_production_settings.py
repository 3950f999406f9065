"""Production settings: `check --deploy` is clean and the transport protections are on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "q7R#v2LmZ!p9Xw4@tN8s$Kd3Fh6Jb1Yc5Ge0Ua-Wi_Oo+Pe=Lr"  # 50 characters, test only


def production_env(tmp_path, **extra):
    skip = ("OIDC_", "STEWARD_", "DATABASE_URL", "DEBUG", "SESSION_", "SECURE_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        STEWARD_ENV="production",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="steward.example.com",
        STEWARD_VAR_DIR=str(tmp_path),
        **extra,
    )
    return env


def run(args, env):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    assert len(SECRET) == 50
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "?:" not in result.stderr, result.stderr


def test_check_deploy_with_sso_configured_reports_nothing(tmp_path):
    env = production_env(
        tmp_path,
        OIDC_RP_CLIENT_ID="steward",
        OIDC_RP_CLIENT_SECRET="secret-from-the-idp",
        OIDC_OP_DISCOVERY_ENDPOINT="https://idp.example.com/.well-known/openid-configuration",
        STEWARD_OIDC_ROLE_MAP="steward-iam=IAM approver,steward-security=Security admin",
        STEWARD_LOCAL_LOGIN="0",
    )
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_role_map_stops_manage_check(tmp_path):
    env = production_env(tmp_path, STEWARD_OIDC_ROLE_MAP="steward-iam=Administrator")
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "steward.E101" in result.stderr


def test_production_turns_on_secure_cookies_hsts_and_https(tmp_path):
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ["
        "'SESSION_COOKIE_SECURE','CSRF_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY','SESSION_COOKIE_SAMESITE',"
        "'CSRF_COOKIE_SAMESITE','SECURE_HSTS_SECONDS','SECURE_HSTS_INCLUDE_SUBDOMAINS','SECURE_SSL_REDIRECT',"
        "'X_FRAME_OPTIONS','SECURE_CONTENT_TYPE_NOSNIFF','DEBUG','AXES_ENABLED','SESSION_COOKIE_AGE']}))"
    )
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings")
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_SSL_REDIRECT": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "DEBUG": False,
        "AXES_ENABLED": True,
        "SESSION_COOKIE_AGE": 8 * 3600,
    }


def test_session_timeout_comes_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_AGE, s.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    )
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        SESSION_COOKIE_AGE="900",
        SESSION_EXPIRE_AT_BROWSER_CLOSE="1",
    )
    result = run(["-c", code], env)
    assert result.stdout.split() == ["900", "True"], result.stderr


@pytest.mark.django_db
def test_https_responses_carry_hsts_in_production(client, settings, owner):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client.force_login(owner)
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_session_cookie_is_httponly_and_samesite(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "pw-for-tests-1"})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
