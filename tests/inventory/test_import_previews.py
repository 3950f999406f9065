"""Abandoned import previews are deleted after a day by a scheduled job (issue 18, item 13)."""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from governance.demo import seed_people
from governance.jobs.models import JobRun
from governance.jobs.runner import run_job

CSV_FILE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ai-coding-assistants.csv"


@pytest.fixture
def media(settings, tmp_path):
    """The default storage in a temporary folder (its location is set in STORAGES, not MEDIA_ROOT)."""
    location = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location},
        },
    }
    return location


def preview(client) -> str:
    response = client.post(
        "/inventory/import/", {"file": SimpleUploadedFile("ai.csv", CSV_FILE.read_bytes())}
    )
    assert response.status_code == 200
    return response.context["token"]


@pytest.mark.django_db
def test_a_preview_nobody_confirms_is_deleted_after_a_day(client, media):
    client.force_login(seed_people("pw-for-tests-1")["iam"])
    token = preview(client)
    stashed = Path(media) / "imports" / token
    assert stashed.exists()
    started = timezone.now()

    with time_machine.travel(started + timedelta(hours=23), tick=False):
        assert run_job("import_previews").summary == {"deleted": 0, "kept": 1}
    assert stashed.exists()

    with time_machine.travel(started + timedelta(days=1, minutes=5), tick=False):
        assert run_job("import_previews").summary == {"deleted": 1, "kept": 0}
        # Idempotent: a second run (a redelivered task) finds nothing to do.
        assert run_job("import_previews").summary == {"deleted": 0, "kept": 0}
    assert not stashed.exists()
    assert all(JobRun.objects.filter(name="import_previews").values_list("ok", flat=True))

    # Confirming the deleted preview says it expired and imports nothing.
    response = client.post("/inventory/import/", {"confirm": token}, follow=True)
    assert "expired" in response.content.decode()


@pytest.mark.django_db
def test_only_previews_older_than_a_day_are_deleted(client, media):
    assert run_job("import_previews").summary == {"deleted": 0, "kept": 0}  # no folder yet
    client.force_login(seed_people("pw-for-tests-1")["iam"])
    abandoned, fresh = preview(client), preview(client)
    two_days_ago = (timezone.now() - timedelta(days=2)).timestamp()
    os.utime(Path(media) / "imports" / abandoned, (two_days_ago, two_days_ago))
    assert run_job("import_previews").summary == {"deleted": 1, "kept": 1}
    assert sorted(p.name for p in (Path(media) / "imports").iterdir()) == [fresh]


@pytest.mark.django_db
def test_the_job_is_on_the_default_beat_schedule_hourly():
    task = PeriodicTask.objects.get(name="abandoned import previews")
    assert task.task == "governance.run_job" and json.loads(task.args) == ["import_previews"]
    assert (task.interval.every, task.interval.period) == (1, "hours") and task.enabled
