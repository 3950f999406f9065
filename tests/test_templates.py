"""Template hygiene: Django's `{# … #}` comment ends at the line's end. One left open onto the next line
is printed as text (in <head> the browser moves it onto every page's body); multi-line notes use
{% comment %}."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_one_line_comment_runs_onto_the_next_line():
    open_comments = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "{#" in line and "#}" not in line[line.index("{#") :]
    ]
    assert not open_comments, f"use {{% comment %}} for these: {open_comments}"


def test_a_filter_bar_that_redraws_as_you_change_it_keeps_only_the_latest_request():
    """A filter bar asks again on each change, on typing and on submit: `hx-sync="this:replace"` aborts
    the older request, so a slower answer to older filters never redraws over the newer ones (and a
    click on a row is never lost to a second redraw)."""
    forms = [
        (path.relative_to(ROOT), tag)
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for tag in re.findall(r"<form\b[^>]*>", path.read_text(), re.S)
        if 'hx-trigger="change' in tag
    ]
    assert len(forms) >= 9
    assert [str(path) for path, tag in forms if 'hx-sync="this:replace"' not in tag] == []
