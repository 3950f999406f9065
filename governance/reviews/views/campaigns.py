"""Campaign pages for IAM (Security and Auditors read): list, launch, progress, upkeep, report."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.access import READERS, is_htmx, role_required
from governance.csv_safety import safe_row
from governance.errors import IllegalTransition, NotAllowed
from governance.lists.services import without_page
from governance.people.models import Role, User
from governance.reviews import services
from governance.reviews.filters import ReviewItemFilter
from governance.reviews.forms import LaunchForm, ReassignForm, apply_service_errors
from governance.reviews.models import ReviewCampaign, ReviewItem, ReviewReminder
from governance.reviews.queries import progress_counts, progress_of, rubber_stamp_flags, with_progress

D = ReviewItem.Decision


@role_required(*READERS)
def campaign_list(request):
    campaigns = with_progress(ReviewCampaign.objects.all()).order_by("-launched_at", "-pk")
    state = request.GET.get("state", "")
    if state in ReviewCampaign.State.values:
        campaigns = campaigns.filter(state=state)
    page = Paginator(campaigns, 25).get_page(request.GET.get("page"))
    rows = [(c, progress_of(c)) for c in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "state": state,
        "states": ReviewCampaign.State.choices,
        "query": without_page(request.GET),
        "now": timezone.now(),
    }
    template = "governance/reviews/campaign_list.html"
    return render(request, f"{template}#results" if is_htmx(request) else template, context)


@role_required(Role.IAM)
def campaign_new(request):
    form = LaunchForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                campaign = services.launch_campaign(
                    request.user, form.cleaned_data["name"], form.scope, form.cleaned_data["due_at"]
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except (IllegalTransition, NotAllowed) as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    f"Campaign launched over {campaign.population_count} identities; "
                    "reviewers can start now.",
                )
                return redirect(campaign.get_absolute_url())
        status = 400
    return render(request, "governance/reviews/campaign_new.html", {"form": form}, status=status)


def _breakdown(campaign: ReviewCampaign, group: str) -> list[dict]:
    rows = (
        ReviewItem.objects.filter(campaign=campaign)
        .values(group)
        .annotate(**progress_counts(prefix=""))
        .order_by(group)
    )
    return [{"key": row[group], **progress_of(row)} for row in rows]


@role_required(*READERS)
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(with_progress(ReviewCampaign.objects.all()), pk=pk)
    now = timezone.now()
    by_reviewer = _breakdown(campaign, "reviewer__username")
    flags = {f["reviewer"]: f["fast_certifications"] for f in rubber_stamp_flags(campaign)}
    last_reminders = dict(
        ReviewReminder.objects.filter(campaign=campaign)
        .values("reviewer__username")
        .annotate(last=Max("sent_at"))
        .values_list("reviewer__username", "last")
    )
    for row in by_reviewer:
        row["fast_certifications"] = flags.get(row["key"])
        row["last_reminder"] = last_reminders.get(row["key"])
    open_items = (
        ReviewItem.objects.filter(campaign=campaign, decision=D.PENDING)
        .select_related("reviewer", "team", "identity__owner", "identity__backup_owner")
        .order_by("risk_tier", "identity_id")
    )
    page = Paginator(open_items, 25).get_page(request.GET.get("page"))
    iam_users = list(
        User.objects.filter(is_active=True, groups__name=Role.IAM)
        .order_by("username")
        .values_list("username", flat=True)
    )
    context = {
        "campaign": campaign,
        "progress": progress_of(campaign),
        "overdue": campaign.is_overdue(now),
        "by_team": _breakdown(campaign, "team__slug"),
        "by_reviewer": by_reviewer,
        "flags": flags,
        "page": page,
        "iam_users": iam_users,
        "awaiting_signoff": ReviewItem.objects.filter(campaign=campaign, signoff_state="pending")
        .select_related("decided_by")
        .order_by("decided_at")[:50],
        "remediations": ReviewItem.objects.filter(campaign=campaign, remediation_state="pending")
        .select_related("decided_by")
        .order_by("decided_at")[:50],
        "can_manage": request.user.is_iam and campaign.is_open,
        "now": now,
        "target": "#open-items",
    }
    template = "governance/reviews/campaign_detail.html"
    return render(request, f"{template}#open-items" if is_htmx(request) else template, context)


@require_POST
@role_required(Role.IAM)
def campaign_remind(request, pk: int):
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    try:
        result = services.send_reminders(request.user, campaign)
    except (IllegalTransition, NotAllowed) as exc:
        messages.error(request, exc.message)
    else:
        text = f"Sent {result['sent']} reminder(s)."
        if result["sent"] == 0:
            text = (
                "Every reviewer with open items was already reminded today (by the daily digest or "
                "an earlier press); nothing sent."
            )
        if result["unassigned"]:
            text += f" {result['unassigned']} item(s) have no reviewer: reassign them."
        messages.success(request, text)
    return redirect(campaign.get_absolute_url())


@require_POST
@role_required(Role.IAM)
def campaign_close(request, pk: int):
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    try:
        result = services.close_campaign(request.user, campaign)
    except (IllegalTransition, NotAllowed) as exc:
        messages.error(request, exc.message)
        return render(request, "409.html", {"message": exc.message}, status=409)
    messages.success(
        request,
        f"Campaign closed: {result['not_reviewed']} item(s) not reviewed, "
        f"{result['signoff_lapsed']} sign-off(s) lapsed.",
    )
    return redirect(campaign.get_absolute_url())


@require_POST
@role_required(Role.IAM)
def item_reassign(request, pk: int):
    item = get_object_or_404(ReviewItem.objects.select_related("campaign"), pk=pk)
    form = ReassignForm(request.POST)
    if form.is_valid():
        try:
            services.reassign(request.user, item, form.cleaned_data["reviewer"], form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except (IllegalTransition, NotAllowed) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{item} now goes to {form.cleaned_data['reviewer']}.")
    else:
        messages.error(request, "Choose the new reviewer.")
    return redirect(item.campaign.get_absolute_url())


# ---------------------------------------------------------------- report


REPORT_COLUMNS = [
    "item",
    "identity",
    "identity_name",
    "risk_tier",
    "team",
    "owner_at_launch",
    "reviewer",
    "decision",
    "reason",
    "decided_by",
    "decided_at",
    "display_seconds",
    "signoff_state",
    "signoff_by",
    "signoff_at",
    "remediation_state",
    "remediation_confirmed_by",
    "remediation_confirmed_at",
    "remediation_note",
]


def _report_items(campaign: ReviewCampaign):
    return (
        ReviewItem.objects.filter(campaign=campaign)
        .select_related("reviewer", "team", "signoff_by", "remediation_confirmed_by")
        .order_by("identity_id")
    )


def _iso(value) -> str:
    return value.isoformat() if value else ""


def report_row(item: ReviewItem) -> list:
    return [
        item.pk,
        item.identity_id,
        item.snapshot.get("name", ""),
        item.risk_tier,
        item.team.slug if item.team_id else "",
        item.snapshot.get("owner") or "",
        item.reviewer.username if item.reviewer_id else "",
        item.decision,
        item.reason,
        item.decided_by_label,
        _iso(item.decided_at),
        "" if item.display_seconds is None else item.display_seconds,
        item.signoff_state,
        item.signoff_by.username if item.signoff_by_id else "",
        _iso(item.signoff_at),
        item.remediation_state,
        item.remediation_confirmed_by.username if item.remediation_confirmed_by_id else "",
        _iso(item.remediation_confirmed_at),
        item.remediation_note,
    ]


@role_required(*READERS)
def campaign_report(request, pk: int):
    campaign = get_object_or_404(with_progress(ReviewCampaign.objects.all()), pk=pk)
    filterset = ReviewItemFilter(request.GET or None, queryset=_report_items(campaign))
    items = filterset.qs if filterset.is_valid() else _report_items(campaign)
    page = Paginator(items, 200).get_page(request.GET.get("page"))
    context = {
        "campaign": campaign,
        "progress": progress_of(campaign),
        "page": page,
        "query": without_page(request.GET),
        # Recomputing the hash reads every item: only on request.
        "verification": services.verify_population(campaign) if request.GET.get("verify") else None,
        "decisions": D.choices,
        "filter_decision": request.GET.get("decision", ""),
        "target": "#report-rows",
    }
    template = "governance/reviews/campaign_report.html"
    return render(request, f"{template}#rows" if is_htmx(request) else template, context)


class _Echo:
    def write(self, value):
        return value


@role_required(*READERS)
def campaign_report_csv(request, pk: int):
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(REPORT_COLUMNS)
        for item in _report_items(campaign).iterator(chunk_size=2000):
            yield writer.writerow(safe_row(report_row(item)))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reviews-campaign-{campaign.pk}.csv"'
    return response
