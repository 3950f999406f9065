"""The hot path's counters and marks: the same meaning on Redis (one pipeline) and on other caches."""

import os
import uuid

import pytest
from django.utils import timezone

from governance import cache as marks
from governance.decisions import services, subjects
from governance.decisions.models import DecisionRecord
from governance.models import AuditEvent
from tests.conftest import requires_services
from tests.decisions.conftest import question

REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings):
    prefix = f"marks-{uuid.uuid4().hex}"
    if request.param == "redis":
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            if requires_services():
                pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc.__class__.__name__}")
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
        settings.CACHES = {
            "default": {
                "BACKEND": "governance.cache.StewardRedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": prefix,
            }
        }
    else:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}
        }
    subjects.clear_local()
    return request.param


def test_counters_add_up_and_report_their_totals(backend):
    assert marks.incr_many({"a": 2, "b": 1}, 60) == {"a": 2, "b": 1}
    assert marks.incr_many({"a": 3}, 60) == {"a": 5}
    assert marks.incr_many({}, 60) == {}


def test_a_mark_is_new_once(backend):
    assert marks.add_many(["x", "y", "x"], 60) == {"x", "y"}
    assert marks.add_many(["x", "z"], 60) == {"z"}
    assert marks.add_many([], 60) == set()


@pytest.mark.django_db
def test_a_batch_samples_and_audits_as_the_same_questions_asked_one_by_one(backend, agent, owner, settings):
    settings.STEWARD_DECISION_SAMPLE_ABOVE = 2
    now = timezone.now().replace(second=1)
    allow = question(agent)
    deny = question(agent, action="write_code")
    asks = services.parse([allow] * 5 + [deny] * 2)[0]
    answers = services.decide(owner, asks, is_batch=True, now=now)
    assert [a.verdict.decision for a in answers] == ["allow"] * 5 + ["deny"] * 2
    allows = DecisionRecord.objects.filter(decision="allow")
    assert allows.filter(window_start__isnull=True).count() == 2  # the first two, one row each
    assert allows.get(window_start__isnull=False).count == 3  # the rest, counted
    assert DecisionRecord.objects.filter(decision="deny").count() == 2  # denies never aggregated
    assert AuditEvent.objects.filter(verb="decision.deny").count() == 1  # once a minute per question
    services.decide(owner, services.parse([allow])[0], now=now)
    assert allows.get(window_start__isnull=False).count == 4


def test_the_redis_backend_reuses_one_client_and_still_behaves_as_a_cache(backend):
    from django.core.cache import cache

    cache.set("k", {"a": 1}, 30)
    assert cache.get("k") == {"a": 1}
    assert cache.add("n", 1, 30) and not cache.add("n", 5, 30)
    assert cache.incr("n", 2) == 3
    cache.delete("k")
    assert cache.get("k") is None
    from governance.cache import _redis_client

    assert (_redis_client() is not None) == (backend == "redis")  # the pipeline path is the one taken
    if backend == "redis":
        client = cache._cache
        assert client.get_client(write=True) is client.get_client(write=True)
        assert client.get_client(write=False) is client.get_client(write=False)


def test_counters_read_back_through_the_cache_api(backend):
    """The throttle increments with incr_many and reads with get_many: both must agree."""
    from django.core.cache import cache

    marks.incr_many({"t:1": 1}, 60)
    marks.incr_many({"t:1": 1}, 60)
    assert cache.get_many(["t:1", "t:0"]) == {"t:1": 2}


def test_counters_and_marks_in_one_call_mean_what_they_mean_apart(backend):
    marks.add_many(["seen"], 60)
    totals, new = marks.incr_and_add({"c": 2, "d": 1}, 60, ["seen", "fresh", "fresh"], 60)
    assert totals == {"c": 2, "d": 1}
    assert new == {"fresh"}
    totals, new = marks.incr_and_add({"c": 1}, 60, [], 60)
    assert (totals, new) == ({"c": 3}, set())
    assert marks.incr_and_add({}, 60, ["other"], 60) == ({}, {"other"})


def test_the_sliding_window_admits_up_to_its_limit_and_counts_only_what_it_admits(backend):
    """On Redis one script call reads both windows and counts; elsewhere the caller does (None)."""
    from django.core.cache import cache

    if backend != "redis":
        assert marks.window_admit("w:2", "w:1", 3, 0.5, 120) is None
        return
    marks.incr_many({"w:1": 4}, 120)  # the previous window: 4 requests, half of it still in view
    assert marks.window_admit("w:2", "w:1", 3, 0.5, 120) is True  # 0 + 2 < 3
    assert marks.window_admit("w:2", "w:1", 3, 0.5, 120) is False  # 1 + 2 >= 3
    assert marks.window_admit("w:2", "w:1", 3, 0.5, 120) is False
    assert cache.get_many(["w:2"]) == {"w:2": 1}  # refusals are not counted
    assert marks.window_admit("w:2", "w:1", 3, 0.0, 120) is True  # the last window out of view


@pytest.mark.django_db
def test_the_api_throttle_refuses_past_its_rate_on_either_cache(backend, settings):
    from rest_framework.test import APIRequestFactory

    from governance.throttling import ApiRateThrottle

    settings.STEWARD_API_RATE = "3/min"
    request = APIRequestFactory().get("/api/v1/identities/")
    request.user, request.auth = type("U", (), {"is_authenticated": False})(), None
    throttle = ApiRateThrottle()
    answers = [throttle.allow_request(request, None) for _ in range(5)]
    assert answers[:3] == [True, True, True]
    assert answers[3:] == [False, False]
    assert 1 <= throttle.wait() <= 120


@pytest.mark.django_db
def test_an_emptied_cache_records_more_never_less(backend, agent, owner, settings):
    """Redis keeps nothing the decision log needs: every recorded answer is in PostgreSQL before it
    is returned. A restarted (emptied) Redis resets the counters and marks, so the next answers are
    recorded one by one again and notable ones audited again: more records, never fewer."""
    from django.core.cache import cache

    settings.STEWARD_DECISION_SAMPLE_ABOVE = 1
    now = timezone.now().replace(second=1)
    allow, deny = question(agent), question(agent, action="write_code")
    for _ in range(3):
        services.decide(owner, services.parse([allow, deny])[0], is_batch=True, now=now)
    rows_before = DecisionRecord.objects.filter(window_start__isnull=True).count()
    audits_before = AuditEvent.objects.filter(verb="decision.deny").count()
    assert (rows_before, audits_before) == (4, 1)  # one allow and three denies; the deny audited once
    cache.clear()  # what a Redis restart without persistence leaves
    services.decide(owner, services.parse([allow, deny])[0], is_batch=True, now=now)
    assert DecisionRecord.objects.filter(window_start__isnull=True).count() == rows_before + 2
    assert AuditEvent.objects.filter(verb="decision.deny").count() == audits_before + 1
    total = sum(DecisionRecord.objects.filter(decision="allow").values_list("count", flat=True))
    assert total == 4  # every allow still counted, one row or aggregated
