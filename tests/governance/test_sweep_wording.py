"""Small truths (issue 22 item 10): the control catalogue describes the sweep as the schedule runs it."""

import pytest
from django_celery_beat.models import PeriodicTask

from governance.evidence.catalogue import ensure_loaded

pytestmark = pytest.mark.django_db


def test_the_stale_access_control_says_hourly_like_the_beat_schedule(client, auditor):
    sweep = PeriodicTask.objects.get(task="governance.sweep")
    assert (sweep.interval.every, sweep.interval.period) == (1, "hours")
    control = ensure_loaded().get(code="STW-05")
    assert "hourly sweep" in control.description and "daily" not in control.description
    client.force_login(auditor)
    page = client.get("/evidence/controls/").content.decode()
    assert "An hourly sweep flags unused access" in page and "daily sweep" not in page
