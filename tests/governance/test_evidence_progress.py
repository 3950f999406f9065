"""An evidence pack's build records its progress: files written of the pack's total (issue 22 item 11)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.evidence import builder
from governance.evidence.models import EvidenceExport
from tests.governance.evidence_support import export_now, small_estate

pytestmark = pytest.mark.django_db


def test_the_build_records_each_file_where_the_page_can_see_it_and_ends_at_100(
    auditor, owner, monkeypatch, django_capture_on_commit_callbacks
):
    small_estate(owner)
    seen: list[tuple[int, int, int | None]] = []
    write_pack = builder.write_pack

    def spying(export, target, progress=None):
        def recorded(done, total):
            progress(done, total)
            row = EvidenceExport.objects.values_list("progress_done", "progress_total").get(pk=export.pk)
            seen.append((done, *row))

        return write_pack(export, target, progress=recorded)

    monkeypatch.setattr(builder, "write_pack", spying)
    export = export_now(auditor, django_capture_on_commit_callbacks)

    assert export.state == "ready"
    total = seen[0][2]
    # The manifest and its signature are the last step, written when the pack is marked ready.
    assert total == len(export.manifest["files"]) + 1
    stored = [done for _, done, _ in seen]
    assert stored == list(range(0, total)), stored  # 0, 1, ... every file, in order
    assert all(t == total for *_, t in seen) and max(stored) <= total
    assert (export.progress_done, export.progress_total) == (total, total)
    assert export.progress.percent == 100 and export.progress.label == "100 % · done"


def test_progress_is_written_only_under_the_builds_own_claim(auditor, django_capture_on_commit_callbacks):
    export = EvidenceExport.objects.create(
        requested_by=auditor, period_start="2026-01-01", period_end="2026-01-31", progress_done=5
    )
    # Another worker's claim: a write from a stale build must not move this row's counts.
    EvidenceExport.objects.filter(pk=export.pk).update(progress_total=9)
    assert builder._claim(export.pk, builder.timezone.now()) == 1
    export.refresh_from_db()
    assert (export.progress_done, export.progress_total) == (0, None)  # a (re)build starts over


def test_a_pending_row_shows_a_progress_bar_and_a_finished_poll_shows_done(
    client, auditor, owner, django_capture_on_commit_callbacks
):
    now = builder.timezone.now()
    export = EvidenceExport.objects.create(
        requested_by=auditor,
        period_start="2026-01-01",
        period_end="2026-01-31",
        started_at=now - builder.timedelta(seconds=30),
        progress_done=5,
        progress_total=20,
    )
    client.force_login(auditor)
    url = reverse("evidence-export-row", args=[export.pk])
    row = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in row
    assert 'max="100" value="25"' in row and 'aria-label="Pack progress"' in row
    assert "25 % · about 2 min left" in row and "5 of 20 files" in row

    EvidenceExport.objects.filter(pk=export.pk).update(state="ready", progress_done=20)
    row = client.get(url).content.decode()
    assert "every 2s" not in row and 'value="100"' in row and "100 % · done" in row
    home = client.get(reverse("evidence")).content.decode()
    assert "<progress" not in home  # a finished pack's row in the list is quiet
