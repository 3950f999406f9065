"""The bench's floor (bench/floor.py) does what bench/README.md says it measures, and no more."""

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import clear_url_caches

from bench import floor

QUESTION = json.dumps({"identity": 7, "action": "read", "resource": {"kind": "repo", "name": "a"}})


@pytest.fixture
def floor_urls(settings):
    settings.ROOT_URLCONF = "bench.floor"
    clear_url_caches()
    yield
    clear_url_caches()


@pytest.mark.django_db
def test_the_empty_floor_parses_the_question_and_answers_allow(client, floor_urls):
    response = client.post("/bench-floor/empty/", QUESTION, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["decision"] == "allow"
    assert client.get("/bench-floor/empty/").status_code == 405


@pytest.mark.django_db
def test_steward_answers_as_usual_beside_the_floor(client, floor_urls):
    """The decision endpoint the floor is compared with is Steward's own, behind the same middleware."""
    assert client.post("/api/v1/decisions/", QUESTION, content_type="application/json").status_code == 401
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bench runs on PostgreSQL only")
def test_the_write_floor_stores_one_row_and_counts_the_identity(client, floor_urls):
    floor.create_table()
    for _ in range(2):
        response = client.post("/bench-floor/write/", QUESTION, content_type="application/json")
        assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT identity_id, question FROM {floor.TABLE}")
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {floor.TABLE}")
    assert rows == [(7, QUESTION), (7, QUESTION)]
    assert cache.get("bench:floor:7") == 2
