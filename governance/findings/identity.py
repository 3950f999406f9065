"""The identity page's findings panel, the identity API's `findings` list, and exception links.

A suppressed finding is still listed, with the active exception that covers it linked beside it; an
open one offers "Request exception" with its rule preselected.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance import prepared
from governance.findings.models import Finding
from governance.links import link
from inventory import extensions, timeline

PANEL_MAX = 50


def covering_exceptions(findings: Iterable[Finding], now=None) -> list[Finding]:
    """Set `covering_exception` on each finding: the active exception for its identity and rule, or
    None. One query for any number of findings."""
    from governance.exceptions.models import PolicyException

    findings = list(findings)
    for finding in findings:
        finding.covering_exception = None
    identity_ids = {f.identity_id for f in findings if f.status == Finding.Status.SUPPRESSED}
    if not identity_ids:
        return findings
    covering: dict[tuple[int, str], PolicyException] = {}
    for exc in (
        PolicyException.objects.active(now or timezone.now())
        .filter(identity_id__in=identity_ids)
        .order_by("-expires_at", "-pk")
    ):
        covering.setdefault((exc.identity_id, exc.rule), exc)
    for finding in findings:
        if finding.status == Finding.Status.SUPPRESSED:
            finding.covering_exception = covering.get((finding.identity_id, finding.rule))
    return findings


def _unresolved(identity):
    from governance.findings.api import severity_rank

    return (
        Finding.objects.unresolved()
        .filter(identity=identity)
        .order_by(severity_rank().desc(), "-last_seen_at", "-id")[:PANEL_MAX]
    )


def panel_items(identity) -> list[Finding]:
    # Read on every identity page and detail: through a statement compiled once (governance/prepared.py).
    stand_in = prepared.sentinel_ids(1)[0]
    found = prepared.instances(
        Finding, "findings.identity.unresolved", lambda: _unresolved(stand_in), {stand_in: identity.pk}
    )
    return covering_exceptions(found)


def api_items(identity) -> list[dict]:
    """Unresolved findings (open and suppressed), as the identity API lists them."""
    return [
        {
            "id": f.pk,
            "rule": f.rule,
            "severity": f.severity,
            "status": f.status,
            "first_seen_at": f.first_seen_at.isoformat(),
            "last_seen_at": f.last_seen_at.isoformat(),
            "summary": f.evidence_summary,
            "exception": f.covering_exception.pk if f.covering_exception else None,
            "exception_request_url": f.exception_request_url,
        }
        for f in panel_items(identity)
    ]


def register() -> None:
    timeline.register_source(
        timeline.Source(
            "governance.finding",
            lambda identity: Finding.objects.filter(identity=identity),
            lambda subject_id, identity: link("findings", query={"identity": identity.pk, "status": ""}),
        )
    )
    extensions.register_related("findings", api_items)
    extensions.register_panel(
        extensions.Panel(
            key="findings",
            title=_("Findings"),
            template="governance/findings/_identity_panel.html",
            items=panel_items,
            empty=_("No open findings for this identity."),
            help_text=_(
                "Stale access, overdue rotation and other breaks found by the hourly sweep; "
                "suppressed ones are covered by an active exception."
            ),
            order=30,
            link=lambda identity: link("findings", query={"identity": identity.pk, "status": ""}),
        )
    )
