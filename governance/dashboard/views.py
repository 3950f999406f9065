"""The dashboard: a role-aware home whose cards load on their own (htmx), plus trend data as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.access import GOVERNORS, READERS, is_htmx, role_required
from governance.dashboard import figures
from governance.evidence.catalogue import ensure_loaded
from governance.evidence.status import control_statuses
from governance.exceptions.identity import dashboard_context
from governance.exceptions.models import PolicyException
from governance.findings.models import Finding, Severity
from governance.jobs.models import PostureSnapshot
from governance.links import id_links, link
from governance.people.models import Role, Team
from governance.reviews.models import ReviewCampaign, ReviewItem
from inventory.models import Identity, OwnershipTransfer

TREND_DAYS = (30, 90, 365)
TREND_SERIES = (
    ("live_identities", _("Live identities")),
    ("open_findings", _("Open findings")),
    ("review_overdue", _("Reviews overdue")),
    ("stale_identities", _("Stale identities")),
)


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    roles: tuple  # who may see it; empty = anyone signed in
    team_aware: bool = False


CARDS = {
    c.name: c
    for c in (
        Card("mine", _("My identities"), ()),
        Card("my-work", _("Waiting on you"), ()),
        Card("queue", _("Governance queue"), GOVERNORS),
        Card("controls", _("Controls"), (Role.AUDITOR,)),
        Card("identities", _("Identities"), READERS, True),
        Card("ownership", _("Ownership and reviews"), READERS, True),
        Card("credentials", _("Credentials"), READERS, True),
        Card("stale", _("Stale identities"), READERS, True),
        Card("findings", _("Open findings"), READERS, True),
        Card("ai", _("AI assistants and agents"), READERS, True),
        Card("threats", _("Agents with uncontrolled threats"), READERS, True),
        Card("revocation", _("Revocation follow-through"), READERS, True),
        Card("trends", _("Trends"), READERS),
    )
}


def _may_see(user, card: Card) -> bool:
    return not card.roles or user.has_role(*card.roles)


def _team(request) -> str | None:
    slug = request.GET.get("team") or None
    if slug and not Team.objects.filter(slug=slug).exists():
        return None
    return slug


def home(request):
    """Role-aware start page: what needs this person now and, for governors and auditors, the estate."""
    user = request.user
    team = None
    teams = []
    if user.has_role(*READERS):
        teams = list(Team.objects.order_by("name").values_list("slug", "name"))
        slug = request.GET.get("team") or None
        team = slug if slug in {s for s, _n in teams} else None
    names = ["mine", "my-work"]
    if user.has_role(*GOVERNORS):
        names.append("queue")
    if user.is_auditor:
        names.append("controls")
    posture = [n for n, c in CARDS.items() if c.team_aware] if user.has_role(*READERS) else []
    query = f"?team={team}" if team else ""
    card_link = id_links("dashboard-card")  # reversed once for every card

    def shells(cards: list[str]) -> list[dict[str, str]]:
        return [{"name": n, "title": CARDS[n].title, "url": card_link(n)} for n in cards]

    context = {
        "work_cards": shells(names),
        "posture_cards": shells(posture),
        "show_trends": user.has_role(*READERS),
        "teams": teams,
        "team": team,
        "query": query,
    }
    return render(request, "governance/dashboard/home.html", context)


def card(request, name: str):
    spec = CARDS.get(name)
    if spec is None:
        raise Http404
    if not _may_see(request.user, spec):
        raise PermissionDenied
    team = _team(request) if spec.team_aware else None
    context = {"card": spec, "team": team, **BUILDERS[name](request, team)}
    fragment = f"governance/dashboard/cards/{name.replace('-', '_')}.html"
    if is_htmx(request):
        return render(request, fragment, context)
    return render(request, "governance/dashboard/card_page.html", {**context, "fragment": fragment})


def _mine(request, team):
    mine = Identity.objects.owned_by(request.user).live()
    return {
        "my_identities": mine.select_related("team").order_by("name")[:10],
        "my_identity_count": mine.count(),
        # Only people who may file an intake are invited to (an auditor reads, and files nothing).
        "may_request": request.user.has_role(Role.OWNER, Role.IAM, Role.SECURITY),
    }


def _my_work(request, team):
    from approvals.models import ApprovalRequest, IntakeRequest

    user = request.user
    intake = IntakeRequest.objects.filter(
        requester=user, state__in=(IntakeRequest.State.SUBMITTED, IntakeRequest.State.CHANGES_REQUESTED)
    ).aggregate(
        pending=Count("id", filter=Q(state=IntakeRequest.State.SUBMITTED)),
        changes=Count("id", filter=Q(state=IntakeRequest.State.CHANGES_REQUESTED)),
    )
    approvals = ApprovalRequest.objects.filter(requester=user).pending().exclude(kind="intake").count()
    open_findings = (
        Finding.objects.filter(status=Finding.Status.OPEN)
        .filter(Q(identity__owner=user) | Q(identity__backup_owner=user))
        .count()
    )
    transfers = OwnershipTransfer.objects.filter(
        to_owner=user, state=OwnershipTransfer.State.PROPOSED
    ).count()
    return {
        "intake_pending": intake["pending"],
        "intake_changes": intake["changes"],
        "other_requests_pending": approvals,
        "my_open_findings": open_findings,
        "transfers_waiting": transfers,
        **_my_reviews(user),
        **_my_exceptions(user),
    }


def _my_reviews(user) -> dict:
    """Review items waiting for this person's decision in open campaigns (what /reviews/ lists)."""
    return {"reviews_waiting": ReviewItem.objects.open_for(user).count()}


def _my_exceptions(user) -> dict:
    """Exceptions this person can see that are active, and those expiring within two weeks."""
    return dashboard_context(user)


def _queue(request, team):
    from approvals.models import ApprovalRequest

    now = timezone.now()
    queue = ApprovalRequest.objects.pending().aggregate(n=Count("id"), oldest=Min("submitted_at"))
    today = timezone.localdate()
    overdue = Identity.objects.live().filter(next_review_due__lt=today).count()
    critical = Finding.objects.filter(status=Finding.Status.OPEN, severity=Severity.CRITICAL).count()
    return {
        "queue_count": queue["n"],
        "queue_oldest_days": (now - queue["oldest"]).days if queue["oldest"] else None,
        "queue_oldest": queue["oldest"],
        "review_overdue": overdue,
        "review_overdue_url": figures.inventory_url(review_overdue="true"),
        "critical": critical,
        "critical_url": figures.findings_url(severity=Severity.CRITICAL),
        **_open_campaigns(),
        **_expiring_exceptions(now),
    }


def _open_campaigns() -> dict:
    """Review campaigns in progress (open), with the campaign list filtered the same way."""
    state = ReviewCampaign.State.OPEN
    return {
        "campaigns_open": ReviewCampaign.objects.filter(state=state).count(),
        "campaigns_open_url": link("reviews-campaigns", query={"state": state}),
    }


def _expiring_exceptions(now) -> dict:
    soon = PolicyException.objects.active(now).filter(expires_at__lte=now + timedelta(days=14)).count()
    return {
        "exceptions_expiring": soon,
        "exceptions_expiring_url": link("exceptions", query={"expiring_within": 14}),
    }


def _controls(request, team):
    """Each of Steward's controls with its live status (the same figures /evidence/controls/ shows)."""
    statuses = control_statuses()
    controls = [(control, statuses.get(control.code)) for control in ensure_loaded()]
    return {
        "controls": controls,
        "controls_healthy": sum(1 for _c, status in controls if status and status.healthy),
    }


def _identities(request, team):
    return figures.identity_breakdown(team)


def _ownership(request, team):
    return figures.ownership_and_reviews(team)


def _credentials(request, team):
    return figures.credentials(team)


def _stale(request, team):
    return figures.stale(team)


def _findings(request, team):
    return figures.findings(team)


def _ai(request, team):
    return {"rows": figures.ai_vendors(team)}


def _threats(request, team):
    return figures.agent_threats(team)


def _revocation(request, team):
    return figures.revocation_lag(team)


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    return days if days in TREND_DAYS else 30


def _trend_rows(days: int) -> list[PostureSnapshot]:
    since = timezone.localdate() - timedelta(days=days)
    return list(PostureSnapshot.objects.filter(date__gt=since).order_by("date"))


def _trends(request, team):
    days = _days(request)
    keys = [key for key, _label in TREND_SERIES]
    rows = [{"date": s.date, "values": [s.figures.get(k) for k in keys]} for s in _trend_rows(days)]
    return {"days": days, "day_choices": TREND_DAYS, "series": TREND_SERIES, "rows": rows}


BUILDERS = {
    "mine": _mine,
    "my-work": _my_work,
    "queue": _queue,
    "controls": _controls,
    "identities": _identities,
    "ownership": _ownership,
    "credentials": _credentials,
    "stale": _stale,
    "findings": _findings,
    "ai": _ai,
    "threats": _threats,
    "revocation": _revocation,
    "trends": _trends,
}


@role_required(*READERS)
def trends_json(request):
    """Daily snapshot figures for the trend charts: {days, dates, series: [{key, label, values}]}."""
    days = _days(request)
    snapshots = _trend_rows(days)
    return JsonResponse(
        {
            "days": days,
            "dates": [s.date.isoformat() for s in snapshots],
            "series": [
                {"key": key, "label": str(label), "values": [s.figures.get(key) for s in snapshots]}
                for key, label in TREND_SERIES
            ],
        }
    )
