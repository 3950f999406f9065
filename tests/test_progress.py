"""governance.progress: percent done and time left of long work (issue 22 item 11)."""

from __future__ import annotations

from datetime import timedelta

from django.template.loader import render_to_string
from django.utils import timezone

from governance.progress import Progress, clamp, format_left

NOW = timezone.now()


def started(seconds: float):
    return NOW - timedelta(seconds=seconds)


def test_percent_is_done_over_total_rounded_down_and_never_100_while_running():
    assert Progress(42, 100, started(10), now=NOW).percent == 42
    assert Progress(1, 3, started(10), now=NOW).percent == 33
    assert Progress(99, 100, started(10), now=NOW).percent == 99
    assert Progress(100, 100, started(10), now=NOW).percent == 99  # done counting, not yet finished
    assert Progress(0, 100, started(10), now=NOW).percent == 0


def test_counts_never_exceed_the_total_nor_fall_below_zero():
    assert clamp(120, 100) == 100 and clamp(-3, 100) == 0 and clamp(7, None) == 7
    progress = Progress(120, 100, started(10), now=NOW)
    assert progress.count == 100 and progress.percent == 99 and progress.seconds_left == 0


def test_finished_work_is_100_percent_whatever_the_counts():
    for done, total in [(0, None), (3, 10), (10, 10), (0, 0)]:
        progress = Progress(done, total, started(10), finished=True, now=NOW)
        assert progress.percent == 100 and progress.label == "100 % · done"
        assert progress.seconds_left is None


def test_time_left_is_elapsed_over_done_times_remaining():
    # 60 s for 25 of 100: 2.4 s each, 75 left -> 180 s
    progress = Progress(25, 100, started(60), now=NOW)
    assert progress.seconds_left == 180
    assert progress.label == "25 % · about 3 min left"
    assert Progress(50, 100, started(20), now=NOW).label == "50 % · less than a minute left"
    assert Progress(1, 100, started(300), now=NOW).time_left == "about 8 h 15 min left"


def test_time_left_is_only_stated_once_there_is_enough_to_estimate():
    assert Progress(0, 100, started(30), now=NOW).seconds_left is None  # nothing done yet
    assert Progress(5, 100, started(1), now=NOW).seconds_left is None  # too soon
    assert Progress(5, 100, None, now=NOW).seconds_left is None  # no start time
    assert Progress(0, 100, started(30), now=NOW).label == "0 % · estimating time left"


def test_without_a_total_there_is_no_percent_only_a_count():
    progress = Progress(17, None, started(30), unit="identities", now=NOW)
    assert progress.percent is None and not progress.known and progress.seconds_left is None
    assert progress.label == "17 identities so far"
    assert Progress(0, None, None, unit="files", now=NOW).label == "waiting to start"


def test_an_estimated_total_says_so():
    assert Progress(1, 3, started(10), estimated=True, unit="identities", now=NOW).detail == (
        "1 of ≈ 3 identities"
    )
    assert Progress(5, 17, started(10), unit="files", now=NOW).detail == "5 of 17 files"


def test_format_left():
    assert format_left(59) == "less than a minute"
    assert format_left(61) == "about 2 min"
    assert format_left(3600) == "about 1 h"


def test_the_bar_is_an_accessible_progress_element_with_a_text_label():
    html = render_to_string(
        "governance/_progress.html", {"p": Progress(42, 100, started(60), now=NOW), "what": "Pack"}
    )
    assert '<progress class="w-100" max="100" value="42" aria-label="Pack progress"' in html
    assert 'aria-valuetext="42 % · about 2 min left"' in html
    assert 'data-percent="42"' in html and "42 of 100 items" in html
    unknown = render_to_string("governance/_progress.html", {"p": Progress(3, None, now=NOW), "what": "Run"})
    assert "<progress " in unknown and "value=" not in unknown  # indeterminate, honestly
    done = render_to_string("governance/_progress.html", {"p": Progress(3, 3, finished=True), "what": "Run"})
    assert 'value="100"' in done and 'data-finished="1"' in done and "100 % · done" in done


def test_an_all_or_nothing_apply_is_estimated_from_its_preview():
    from governance.progress import apply_estimate

    assert apply_estimate(3.2, rows=40) == 6.4  # it plans again, then writes
    assert apply_estimate(0.01, rows=40) == 1.0  # never under a second when there is work
    assert apply_estimate(5, rows=0) == 0.0  # nothing to apply: no estimate
