"""API rate limits: one bucket per token (or per signed-in user); over the limit is HTTP 429."""

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from governance.actors import system
from inventory.tokens import issue_token
from tests.conftest import bearer


@pytest.fixture
def low_rate(settings):
    cache.clear()
    settings.STEWARD_API_RATE = "3/min"
    yield settings
    cache.clear()


@pytest.mark.django_db
def test_a_token_over_its_rate_gets_429_with_retry_after(low_rate, iam):
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    client = bearer(value)
    assert [client.get("/api/v1/audit-events/").status_code for _ in range(3)] == [200, 200, 200]
    over = client.get("/api/v1/audit-events/")
    assert over.status_code == 429
    assert int(over["Retry-After"]) > 0
    assert "throttled" in over.json()["detail"].lower()


@pytest.mark.django_db
def test_each_token_has_its_own_bucket(low_rate, iam):
    _, first = issue_token(system("test"), iam, scope="read", days=1)
    _, second = issue_token(system("test"), iam, scope="read", days=1)
    for _ in range(3):
        bearer(first).get("/api/v1/audit-events/")
    assert bearer(first).get("/api/v1/audit-events/").status_code == 429
    assert bearer(second).get("/api/v1/audit-events/").status_code == 200


@pytest.mark.django_db
def test_browser_sessions_are_limited_per_user(low_rate, iam, auditor, api_as, time_machine):
    # Mid-minute, frozen: four requests that straddled a minute's end would be judged by a sliding
    # window (the last minute counting in proportion), and the fourth could pass.
    time_machine.move_to(timezone.now().replace(second=30, microsecond=0), tick=False)
    client = APIClient()
    client.force_login(iam)
    for _ in range(3):
        client.get("/api/v1/audit-events/")
    assert client.get("/api/v1/audit-events/").status_code == 429
    other = APIClient()
    other.force_login(auditor)
    assert other.get("/api/v1/audit-events/").status_code == 200


@pytest.mark.django_db
def test_the_default_rate_is_generous(settings, iam):
    cache.clear()
    assert settings.STEWARD_API_RATE == "3000/min"
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    client = bearer(value)
    assert all(client.get("/api/v1/audit-events/").status_code == 200 for _ in range(30))


@pytest.mark.django_db
def test_the_last_minute_still_counts_in_proportion(low_rate, iam, time_machine):
    """A sliding window: half-way through the next minute, half of the last minute's requests still
    count, so a token that used its 3 may make 2 more, not 3 (a fixed window would allow the burst)."""
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    client = bearer(value)
    time_machine.move_to("2026-12-01 10:00:05Z", tick=False)
    assert [client.get("/api/v1/audit-events/").status_code for _ in range(4)] == [200, 200, 200, 429]
    time_machine.move_to("2026-12-01 10:01:30Z", tick=False)  # 3 x 0.5 = 1.5 still count
    assert [client.get("/api/v1/audit-events/").status_code for _ in range(3)] == [200, 200, 429]
    time_machine.move_to("2026-12-01 10:02:59Z", tick=False)  # the 10:01 request is almost gone
    assert client.get("/api/v1/audit-events/").status_code == 200


def test_rates_parse_as_drf_writes_them():
    from governance.throttling import parse_rate

    assert parse_rate("3000/min") == (3000, 60)
    assert parse_rate("10/s") == (10, 1)
    assert parse_rate("5/hour") == (5, 3600)
    assert parse_rate("100/day") == (100, 86400)
