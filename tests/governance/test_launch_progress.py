"""A campaign's launch is one transaction and cannot report midway; its form says so (issue 22 item 11)."""

from __future__ import annotations

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_the_launch_form_says_a_launch_cannot_report_midway(client, iam):
    client.force_login(iam)
    body = client.get(reverse("reviews-campaign-new")).content.decode()
    assert 'data-progress-what="Launch"' in body and "cannot report midway" in body
    assert "js/progress.js" in body and "data-progress-seconds" not in body  # no total: no guess
