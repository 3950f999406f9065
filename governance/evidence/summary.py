"""summary.html inside the pack: a page a person reads or prints.

Rendered from Python (not a served template): it lives only inside the zip, so its small inline
stylesheet is not subject to Steward's Content-Security-Policy, and it links to no external host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.html import escape, format_html, format_html_join

from governance.findings.catalogue import RULES

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#212529;margin:2rem;max-width:60rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.75rem;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #dee2e6;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f1f3f5}.num{text-align:right}
.muted{color:#6c757d}.ok{color:#146c43}.warn{color:#b02a37}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}
"""


def _table(headers, rows) -> str:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">None in this period.</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _hours(value) -> str:
    return "–" if value is None else f"{value:.1f} h"


EXCEPTION_ROWS = (
    ("opened", "Requested in the period"),
    ("approved", "Approved in the period"),
    ("expired", "Expired in the period"),
    ("revoked", "Revoked in the period"),
    ("active_at_end", "Active at the period's end"),
)


def _exceptions_table(figures: dict) -> str:
    return _table(["Exceptions", "Count"], [(label, figures[key]) for key, label in EXCEPTION_ROWS])


def render_summary(export, start, end, counts, controls, statuses, figures) -> str:
    reviewed = figures["reviewed_on_time"]
    active = figures["active"]
    on_time = f"{round(100 * reviewed / active)}%" if active else "–"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Steward evidence {export.period_start} to {export.period_end}</title>",
        f"<style>{STYLE}</style></head><body>",
        format_html(
            "<h1>Steward evidence pack</h1><p>Period <strong>{}</strong> to <strong>{}</strong> "
            "(inclusive). Requested by {}; export #{}.</p>",
            export.period_start,
            export.period_end,
            export.requested_by.username,
            export.pk,
        ),
        _about(export, figures),
        "<p class='muted'>Every file's SHA-256 and the audit chain head are in manifest.json, which Steward "
        "signed (manifest.sig, a JWS with a detached payload; the public key is in Steward's "
        "/.well-known/jwks.json). VERIFY.md says how to check it with standard tools; with Steward, "
        "<code>python manage.py verify_evidence PACK.zip --jwks jwks.json</code> needs no database.</p>",
        _sweep_note(figures),
        "<h2>Population</h2>",
        _table(["File", "Rows"], sorted(counts.items())),
        _definitions(figures),
        _table(["Identity status at the period's end", "Count"], sorted(figures["by_status"].items())),
        _origins(figures),
        "<h2>Reviews</h2>",
        format_html(
            "<p>At the period's end, {} of {} active identities were reviewed on time ({}).</p>",
            reviewed,
            active,
            on_time,
        ),
        _campaigns(figures),
        _table(
            ["Review decisions in the period", "Items"],
            sorted(figures.get("review_decisions", {}).items()),
        ),
        _remediation(figures),
        "<h2>Revocations</h2>",
        format_html(
            "<p>{} credentials revoked in the period: {} confirmed, <strong>{} unconfirmed</strong>. "
            "Lag from revocation to confirmation, over the confirmed ones only: median {}, longest {}.</p>",
            figures["revocations"],
            figures["revocations_confirmed"],
            figures["revocations"] - figures["revocations_confirmed"],
            _hours(figures["median_lag_hours"]),
            _hours(figures["max_lag_hours"]),
        ),
        "<h2>Exceptions</h2>",
        format_html("<p>{} exception rows in exceptions.csv.</p>", counts.get("exceptions.csv", 0)),
        _exceptions_table(figures["exceptions"]),
        _exception_list(figures),
        "<h2>Policy in force during the period</h2>",
        _policies(figures),
        "<h2>Findings opened in the period, by rule</h2>",
        _table(
            ["Rule", "Opened"],
            [
                (RULES[rule].label if rule in RULES else rule, n)
                for rule, n in sorted(figures["findings_by_rule"].items())
            ],
        ),
        "<h2>Controls</h2>",
        _table(
            ["Control", "Name", "Live status", "Framework references"],
            [
                (
                    c.code,
                    c.name,
                    statuses[c.code].text if c.code in statuses else "",
                    "; ".join(c.reference_list()),
                )
                for c in controls
            ],
        ),
        "</body></html>\n",
    ]
    return "".join(str(p) for p in parts)


def _about(export, figures) -> str:
    """System and instance, version, when and by whom: what an auditor records about the source."""
    if "steward_version" not in figures:
        return ""
    preparer = figures["preparer"]
    generated = figures["generated_at"]
    return _table(
        ["About this pack", ""],
        [
            ("System", "Steward — governance of non-human identities"),
            ("Instance", urlsplit(figures["instance"]).netloc or figures["instance"]),
            ("Steward version", figures["steward_version"]),
            ("Generated at", generated.isoformat() if hasattr(generated, "isoformat") else generated),
            (
                "Prepared by",
                f"{preparer.username} ({getattr(preparer, 'display_name', '') or preparer.email or '–'})",
            ),
            ("Signed with", f"{figures['evidence_kid']} (manifest.sig; see VERIFY.md)"),
        ],
    )


def _campaigns(figures) -> str:
    """Campaigns open in the period; review_campaigns.csv has scope, progress and flags."""
    campaigns = figures.get("campaigns")
    if campaigns is None:
        return ""
    more = (
        "<p class='muted'>The first 50 are listed; review_campaigns.csv holds all.</p>"
        if len(campaigns) >= 50
        else ""
    )
    return (
        _table(
            ["Campaign", "Launched", "Due", "Closed", "Population", "SHA-256"],
            [
                (
                    f"#{c.pk} {c.name}",
                    _cell(c.launched_at),
                    _cell(c.due_at),
                    _cell(c.closed_at) or "open",
                    c.population_count,
                    c.population_sha256,
                )
                for c in campaigns
            ],
        )
        + more
    )


def _remediation(figures) -> str:
    """Review revokes: confirmed by someone other than the decider or a connector's sync, or not."""
    r = figures.get("remediation")
    if not r:
        return ""
    if not r["revokes"]:
        return "<p>No review revoked access in the period.</p>"
    lag = (
        f"median {_hours(r['median_lag_hours'])} from decision to confirmation (confirmed ones only)"
        if r["confirmed"]
        else "no confirmation yet, so no lag to report"
    )
    return str(
        format_html(
            "<p>{} review revokes decided in the period: {} confirmed independently, "
            "<strong>{} pending</strong>, {} failed at the source; {}. Each has its decision, action and "
            "confirmation times in reviews.csv.</p>",
            r["revokes"],
            r["confirmed"],
            r["pending"],
            r["failed"],
            lag,
        )
    )


def _origins(figures) -> str:
    """Approvals reconciled with the inventory: every identity created or activated in the period."""
    tally = figures.get("origins")
    if tally is None:
        return ""
    text = format_html(
        "<h2>How identities came to be</h2><p>{} identities were created, activated or reactivated in the "
        "period (identity_origins.csv): {} with an approval record, {} awaiting activation, "
        "<strong>{}</strong> without any approval.</p>",
        tally["rows"],
        tally.get("approved", 0),
        tally.get("awaiting", 0),
        tally.get("missing", 0),
    )
    if tally["unapproved_ids"]:
        text += format_html("<p class='warn'>Without approval: {}.</p>", ", ".join(tally["unapproved_ids"]))
    return text


def _sweep_note(figures) -> str:
    if figures.get("sweeps_in_period", 1):
        return ""
    return (
        "<p class='warn'><strong>No sweep ran in this period.</strong> Findings (stale, orphaned, "
        "overdue, out of scope) were not evaluated during it: a zero below means <em>not checked</em>, "
        "not <em>none found</em>.</p>"
    )


def _definitions(figures) -> str:
    population = figures.get("population")
    if not population:
        return ""
    return "<h3>What each file holds</h3>" + _table(["File", "Population"], sorted(population.items()))


def _exception_list(figures) -> str:
    from governance.exceptions.evidence import COLUMNS

    rows = figures["exception_rows"]

    shown = ("pk", "identity_id", "identity__name", "rule", "state", "approved_by", "expires_at", "ended_at")
    index = [COLUMNS.index(name) for name in shown]
    body = [[_cell(row[i]) for i in index] for row in rows]
    more = (
        "<p class='muted'>The first 200 are listed; exceptions.csv holds all.</p>" if len(rows) >= 200 else ""
    )
    return (
        _table(["Exception", "Identity", "Name", "Rule", "State", "Approved by", "Expires", "Ended"], body)
        + more
    )


def _policies(figures) -> str:
    records = figures.get("policies")
    if records is None:
        return ""
    return (
        _table(
            ["Policy", "Version", "In force from", "Until", "Proposed by", "Approved by"],
            [
                (
                    "governance policy" if r["kind"] == "governance_policy" else "Cedar policies",
                    r["version"],
                    r["in_force_from"],
                    r["in_force_until"] or "end of period",
                    r["proposed_by"],
                    r["approved_by"] or "(before two-person approval)",
                )
                for r in records
            ],
        )
        + "<p class='muted'>Full documents, digests and comments: policy_versions.jsonl.</p>"
    )


def _cell(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
