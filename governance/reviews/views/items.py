"""Reviewer pages: "my reviews", one item's review page, and the decision actions (htmx or plain POST)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max, Min, Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.access import MEMBERS, is_htmx, role_required
from governance.errors import IllegalTransition, NotAllowed
from governance.exceptions.models import PolicyException
from governance.findings.api import severity_rank
from governance.findings.identity import covering_exceptions
from governance.findings.models import Finding
from governance.ids import not_an_id, parse_id
from governance.links import link
from governance.lists.services import without_page
from governance.reviews import services
from governance.reviews.forms import DecisionForm, NoteForm, apply_service_errors
from governance.reviews.models import ReviewItem
from governance.reviews.queries import review_history
from inventory.models import Grant, RiskTier, UsageEvent

D = ReviewItem.Decision
USAGE_WINDOW_DAYS = 90


# ---------------------------------------------------------------- my reviews


@role_required(*MEMBERS)
def my_reviews(request):
    user = request.user
    now = timezone.now()
    mine = ReviewItem.objects.filter(reviewer=user, in_open_campaign=True)
    campaigns = (
        mine.values("campaign_id", "campaign__name", "campaign__due_at")
        .annotate(
            open_items=Count("id", filter=Q(decision=D.PENDING)),
            decided=Count("id", filter=~Q(decision=D.PENDING)),
        )
        .order_by("campaign__due_at", "campaign_id")
    )
    pending = (
        mine.filter(decision=D.PENDING)
        .select_related("campaign")
        .order_by("campaign__due_at", "risk_tier", "identity_id")
    )
    campaign_id = request.GET.get("campaign", "")
    tier = request.GET.get("risk_tier", "")
    status = 200
    if campaign_id:
        wanted = parse_id(campaign_id)
        if wanted is None:  # a bad filter shows no rows and says why, never every campaign
            messages.error(request, f"Campaign: {not_an_id(campaign_id)}")
            status = 400
        pending = pending.filter(campaign_id=wanted)
    if tier in RiskTier.values:
        pending = pending.filter(risk_tier=tier)
    page = Paginator(pending, 25).get_page(request.GET.get("page"))
    # Low-tier rows show their grants inline, so rendering them counts as displaying them.
    services.record_shown(user, [i for i in page.object_list if i.risk_tier == "low"], now)
    context = {
        "campaigns": campaigns,
        # The filter's dropdown, on the whole page only (htmx redraws just the rows); the cards reuse
        # the queryset's rows, so it is one query either way.
        "campaign_choices": []
        if is_htmx(request)
        else [(c["campaign_id"], c["campaign__name"]) for c in campaigns],
        "page": page,
        "query": without_page(request.GET),
        "now": now,
        "filter_campaign": campaign_id,
        "filter_tier": tier,
        "tiers": RiskTier.choices,
        "signoff_queue": _signoff_queue(user) if user.is_iam else None,
        "remediations": _my_remediations(user),
    }
    template = "governance/reviews/my_reviews.html"
    return render(request, f"{template}#pending" if is_htmx(request) else template, context, status=status)


def _signoff_queue(user):
    return (
        ReviewItem.objects.filter(signoff_state=ReviewItem.SignOff.PENDING, in_open_campaign=True)
        .exclude(decided_by=user)
        .exclude(Q(identity__owner=user) | Q(identity__backup_owner=user))
        .select_related("campaign", "decided_by")
        .order_by("decided_at")[:20]
    )


def _my_remediations(user):
    """Revokes this person may confirm: IAM and Security, never their own decisions or identities."""
    if not user.is_governor or user.is_auditor:
        return ReviewItem.objects.none()
    items = ReviewItem.objects.filter(
        remediation_state__in=[ReviewItem.Remediation.PENDING, ReviewItem.Remediation.FAILED]
    )
    items = items.exclude(decided_by=user).exclude(Q(identity__owner=user) | Q(identity__backup_owner=user))
    return items.select_related("campaign").order_by("decided_at")[:20]


@require_POST
@role_required(*MEMBERS)
def bulk_certify(request):
    ids = request.POST.getlist("items")
    try:
        done = services.bulk_certify(request.user, ids, request.POST.get("reason", ""))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(_back(request, link("reviews")))
    except (IllegalTransition, NotAllowed) as exc:
        messages.error(request, exc.message)
        return redirect(_back(request, link("reviews")))
    messages.success(request, f"Certified {len(done)} low-tier item(s).")
    return redirect(_back(request, link("reviews")))


def _back(request, default: str) -> str:
    nxt = request.POST.get("next", "")
    return nxt if nxt.startswith(link("reviews")) else default


# ---------------------------------------------------------------- one item


def _load_item(request, pk: int) -> ReviewItem:
    item = get_object_or_404(
        ReviewItem.objects.select_related(
            "campaign",
            "identity",
            "identity__owner",
            "identity__backup_owner",
            "reviewer",
            "decided_by",
            "signoff_by",
            "remediation_confirmed_by",
        ),
        pk=pk,
    )
    if not services.can_view(request.user, item):
        raise PermissionDenied(
            "Only the reviewer, the identity's owners, IAM, Security and Auditors see this."
        )
    return item


def _usage(item: ReviewItem, now):
    """What the identity actually did lately, per resource and action (one grouped query)."""
    since = now - timedelta(days=USAGE_WINDOW_DAYS)
    rows = list(
        UsageEvent.objects.filter(identity_id=item.identity_id, at__gte=since)
        .values("resource_kind", "resource_name", "action")
        .annotate(events=Count("id"), first=Min("at"), last=Max("at"))
        .order_by("-last")[:50]
    )
    by_resource: dict[str, list[dict]] = {}
    for row in rows:
        by_resource.setdefault(row["resource_name"], []).append(row)
    return rows, by_resource


def _exceptions(item: ReviewItem, now):
    """The identity's exceptions in force now (approved and not past expiry), soonest to end first."""
    return list(
        PolicyException.objects.active(now)
        .filter(identity_id=item.identity_id)
        .order_by("expires_at", "pk")[:20]
    )


def _live_findings(item: ReviewItem):
    """Unresolved findings now, worst first; a suppressed one carries the exception covering it."""
    rows = (
        Finding.objects.unresolved()
        .filter(identity_id=item.identity_id)
        .order_by(severity_rank().desc(), "-last_seen_at", "-id")[:20]
    )
    return covering_exceptions(rows)


def _grant_rows(item: ReviewItem, by_resource: dict, current_ids: set[int]) -> list[dict]:
    rows = []
    for grant in item.snapshot.get("grants", []):
        used = by_resource.get(grant["resource_name"], [])
        used_actions = {u["action"] for u in used}
        rows.append(
            {
                **grant,
                "current": grant["id"] in current_ids,
                "usage": used,
                "unused_actions": [a for a in grant["actions"] if a not in used_actions],
                "last_use": max((u["last"] for u in used), default=None),
            }
        )
    return rows


def _item_context(request, item: ReviewItem, form=None, note_form=None) -> dict:
    now = timezone.now()
    user = request.user
    current_ids = set(
        Grant.objects.current(now).filter(identity_id=item.identity_id).values_list("pk", flat=True)
    )
    usage_rows, by_resource = _usage(item, now)
    grants = _grant_rows(item, by_resource, current_ids)
    grant_choices = [
        (str(g["id"]), f"{g['resource_kind']}: {g['resource_name']} ({', '.join(g['actions'])})")
        for g in grants
        if g["current"]
    ]
    owners = services.common.owners(item)
    return {
        "item": item,
        "snap": item.snapshot,
        "now": now,
        "grants": grants,
        "usage_rows": usage_rows,
        "usage_window": USAGE_WINDOW_DAYS,
        "live_findings": _live_findings(item),
        "exceptions": _exceptions(item, now),
        "identity_now": item.identity,
        "can_decide": item.is_pending and item.campaign.is_open and services.can_decide(user, item),
        "can_sign_off": (
            item.needs_signoff
            and item.campaign.is_open
            and user.is_iam
            and not user.is_auditor
            and user.pk != item.decided_by_id
            and user.username not in owners
        ),
        "can_confirm": item.remediation_state
        in (ReviewItem.Remediation.PENDING, ReviewItem.Remediation.FAILED)
        and not user.is_auditor
        and user.is_governor
        and user.pk != item.decided_by_id
        and user.username not in owners,
        "pending_revocations": item.identity.credentials.filter(
            revoked_at__isnull=False, revocation_confirmed_at__isnull=True
        ),
        "form": form or DecisionForm(grant_choices=grant_choices),
        "note_form": note_form or NoteForm(),
        "history": review_history(item.identity).exclude(pk=item.pk)[:10],
    }


@role_required(*MEMBERS)
def item_detail(request, pk: int):
    item = _load_item(request, pk)
    if item.reviewer_id == request.user.pk:
        services.record_shown(request.user, [item])
        item.refresh_from_db(fields=["shown_at", "last_shown_at"])
    return render(request, "governance/reviews/item.html", _item_context(request, item))


def _panel(request, item: ReviewItem, status: int = 200, alert: str = "", **forms):
    """After an action: the decision panel for htmx, else the page (redirect when it worked)."""
    item = _load_item(request, item.pk)
    if status == 200 and not is_htmx(request):
        return redirect(item.get_absolute_url())
    if alert and not is_htmx(request):
        messages.error(request, alert)
    context = {**_item_context(request, item, **forms), "alert": alert if is_htmx(request) else ""}
    template = "governance/reviews/item.html"
    return render(request, f"{template}#panel" if is_htmx(request) else template, context, status=status)


def _refused(request, item: ReviewItem, exc: IllegalTransition | NotAllowed):
    status = 409 if isinstance(exc, IllegalTransition) else 403
    return _panel(request, item, status=status, alert=exc.message)


def _act(request, item: ReviewItem, action: Callable[[], object], done: str, invalid: Callable):
    """Run one service call on the item. Its field errors go to `invalid` (which answers 400), a
    refusal is a 403 or 409 in the panel; on success the page says `done` (htmx: the fresh panel)."""
    try:
        action()
    except ValidationError as exc:
        return invalid(exc)
    except (NotAllowed, IllegalTransition) as exc:
        return _refused(request, item, exc)
    if not is_htmx(request):
        messages.success(request, done)
    return _panel(request, item)


@role_required(*MEMBERS)
def decide(request, pk: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    item = _load_item(request, pk)
    grant_choices = [(g, g) for g in request.POST.getlist("grants")]
    form = DecisionForm(request.POST, grant_choices=grant_choices)
    if not form.is_valid():
        return _panel(request, item, status=400, form=_rebind(form, item))
    data = form.cleaned_data

    def invalid(exc: ValidationError):
        rebound = _rebind(form, item)
        apply_service_errors(rebound, exc)
        return _panel(request, item, status=400, form=rebound)

    def decide_item():
        services.decide(
            request.user,
            item,
            data["decision"],
            data["reason"],
            grants=data["grants"],
            shown_seconds=data.get("shown_seconds"),
        )

    return _act(request, item, decide_item, "Decision recorded.", invalid)


def _rebind(form: DecisionForm, item: ReviewItem) -> DecisionForm:
    """The same submitted data, with the item's real grant choices for re-display."""
    current = Grant.objects.current().filter(identity_id=item.identity_id)
    choices = [(str(g.pk), str(g)) for g in current]
    rebound = DecisionForm(form.data, grant_choices=choices)
    rebound.is_valid()
    for field, errors in form.errors.items():
        for error in errors:
            if error not in rebound.errors.get(field, []):
                rebound.add_error(field if field != "__all__" else None, error)
    return rebound


@require_POST
@role_required(*MEMBERS)
def sign_off(request, pk: int):
    item = _load_item(request, pk)
    return _act(
        request,
        item,
        lambda: services.sign_off(request.user, item, request.POST.get("note", "")),
        "Signed off.",
        lambda exc: _panel(request, item, status=400, alert=" ".join(exc.messages)),
    )


@require_POST
@role_required(*MEMBERS)
def confirm_remediation(request, pk: int):
    item = _load_item(request, pk)
    note_form = NoteForm(request.POST)
    note_form.is_valid()

    def invalid(exc: ValidationError):
        apply_service_errors(note_form, exc)
        return _panel(request, item, status=400, note_form=note_form)

    return _act(
        request,
        item,
        lambda: services.confirm_remediation(request.user, item, note_form.cleaned_data.get("note", "")),
        "Remediation confirmed.",
        invalid,
    )
