"""Password reset: off without a mail server, throttled, links from STEWARD_BASE_URL (issue 18, item 14)."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from tests.factories import UserFactory

RESET_PAGES = [
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/",
]


@pytest.fixture
def mail_configured(settings):
    settings.EMAIL_HOST = "smtp.example.com"
    settings.STEWARD_BASE_URL = "https://steward.example.com"
    settings.STEWARD_PASSWORD_RESET_RATE_PER_ADDRESS = "10/hour"
    settings.STEWARD_PASSWORD_RESET_RATE_PER_EMAIL = "3/hour"
    cache.clear()
    # One fixed moment: the counters' hourly window cannot roll over mid-test.
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tick=False):
        yield
    cache.clear()


def ask(client, email, **headers):
    return client.post("/accounts/password_reset/", {"email": email}, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("path", RESET_PAGES)
def test_reset_pages_are_404_without_a_mail_server(client, settings, path):
    settings.EMAIL_HOST = ""
    UserFactory(username="victim")
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "victim@example.com"}).status_code == 404
    assert mail.outbox == []


@pytest.mark.django_db
def test_reset_link_comes_from_the_base_url_not_the_host_header(client, settings, mail_configured):
    settings.ALLOWED_HOSTS = ["*"]  # the Host header reaches the view, as behind a lax proxy
    user = UserFactory(username="victim")
    response = ask(client, "victim@example.com", HTTP_HOST="attacker.example")
    assert response.status_code == 302 and response["Location"].endswith("/accounts/password_reset/done/")
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "attacker.example" not in body
    link = re.search(r"https://steward\.example\.com(/accounts/reset/\S+/\S+/)", body)
    assert link, body
    # The link works: it leads to the set-password form, which sets the password.
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a-new-Passw0rd!x", "new_password2": "a-new-Passw0rd!x"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-Passw0rd!x")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["existing", "unknown"])
def test_reset_is_throttled_per_email_address(client, mail_configured, who):
    UserFactory(username="victim")
    email = "victim@example.com" if who == "existing" else "nobody@example.com"
    answers = [ask(client, email, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(4)]
    # Same answers whether or not the address has an account: the throttle reveals nothing.
    assert answers == [302, 302, 302, 429]
    assert len(mail.outbox) == (3 if who == "existing" else 0)
    assert "Too many password reset requests" in ask(client, email.upper()).content.decode()


@pytest.mark.django_db
def test_reset_is_throttled_per_client_address_across_emails(client, mail_configured):
    for n in range(10):
        UserFactory(username=f"user-{n}")
    answers = [ask(client, f"user-{n}@example.com").status_code for n in range(10)]
    assert answers == [302] * 10
    assert ask(client, "user-0@example.com").status_code == 429
    assert len(mail.outbox) == 10
    # Another address is not affected.
    assert ask(client, "user-1@example.com", REMOTE_ADDR="203.0.113.9").status_code == 302
