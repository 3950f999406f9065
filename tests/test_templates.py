"""Template hygiene: Django's `{# … #}` comment ends at the line's end. One left open onto the next line
is printed as text (in <head> the browser moves it onto every page's body); multi-line notes use
{% comment %}."""

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
