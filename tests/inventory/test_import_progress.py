"""An import's apply is one transaction and cannot report midway: its confirm form carries an
estimate from the preview's time, labelled as one (issue 22 item 11)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.demo import seed_people
from tests.inventory.test_import_previews import CSV_FILE


@pytest.fixture
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }


@pytest.mark.django_db
def test_the_confirm_form_estimates_the_apply_from_the_preview(client, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(seed_people("pw-for-tests-1")["iam"])
    response = client.post(
        reverse("inventory:import"), {"file": SimpleUploadedFile("ai.csv", CSV_FILE.read_bytes())}
    )
    assert response.status_code == 200
    counts = response.context["plan"].counts
    rows = counts["create"] + counts["update"]
    assert rows > 0 and response.context["apply_rows"] == rows
    seconds = response.context["apply_seconds"]
    assert seconds >= 1.0
    body = response.content.decode()
    assert 'data-progress-what="Import"' in body and f'data-progress-seconds="{seconds}"' in body
    assert "cannot report midway" in body and "js/progress.js" in body
