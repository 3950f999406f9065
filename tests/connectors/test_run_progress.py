"""A connector run's progress: identities read of what the last successful run read (issue 22 item 11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.kinds import aws_iam
from connectors.models import ConnectorRun
from connectors.services import create_connector, start_run
from connectors.sync import _reconcile_page, execute_run

pytestmark = pytest.mark.django_db


def test_a_run_counts_pages_against_the_last_runs_total_and_ends_at_100(aws, moto_url, iam, client):
    for n in range(4):
        aws.create_role(RoleName=f"batch-{n}", AssumeRolePolicyDocument="{}")
    connector = create_connector(
        iam,
        {"name": "aws-paged", "kind": "aws_iam", "config": {"endpoint_url": moto_url, "page_size": 1}},
    )
    first = execute_run(start_run(iam, connector, enqueue=False).pk)
    assert first.state == "succeeded" and first.seen >= 4
    total = first.seen
    # The first run had nothing to estimate from: it showed a count, not a percent.
    ConnectorRun.objects.filter(pk=first.pk).update(started_at=timezone.now() - timedelta(minutes=5))

    run = start_run(iam, connector, enqueue=False)
    ConnectorRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=40))
    pages = aws_iam.AwsIam(connector).discover({})
    percents = []
    for _ in range(2):
        _reconcile_page(run, connector, next(pages))  # each page commits its counts on its own
        run.refresh_from_db()
        progress = run.progress_info
        assert progress.total == total and progress.estimated and progress.count <= total
        percents.append(progress.percent)
    assert percents[0] < percents[1] < 100
    assert progress.percent == run.seen * 100 // total
    assert progress.seconds_left is not None and progress.time_left.endswith("left")

    client.force_login(iam)
    row = client.get(reverse("connectors:run-row", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in row and f'value="{progress.percent}"' in row
    assert f"{run.seen} of ≈ {total} identities" in row and "estimated from the last successful run" in row

    ConnectorRun.objects.filter(pk=run.pk).update(lease_until=None)
    done = execute_run(run.pk)
    assert done.state == "succeeded" and done.progress_info.percent == 100
    row = client.get(reverse("connectors:run-row", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in row and 'value="100"' in row and "100 % · done" in row


def test_without_an_earlier_run_or_past_its_total_a_run_shows_a_count_not_a_guess(aws, moto_url, iam):
    connector = create_connector(
        iam, {"name": "aws-fresh", "kind": "aws_iam", "config": {"endpoint_url": moto_url}}
    )
    run = start_run(iam, connector, enqueue=False)
    ConnectorRun.objects.filter(pk=run.pk).update(seen=3)
    run.refresh_from_db()
    assert run.progress_info.percent is None and run.progress_info.label == "3 identities so far"

    ConnectorRun.objects.filter(pk=run.pk).update(
        state="succeeded", started_at=timezone.now() - timedelta(hours=1), finished_at=timezone.now()
    )
    second = start_run(iam, connector, enqueue=False)
    ConnectorRun.objects.filter(pk=second.pk).update(seen=5)  # the source grew past last time's 3
    second.refresh_from_db()
    assert second.expected_total() is None and second.progress_info.percent is None
