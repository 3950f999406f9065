"""Intake pages: the form with its live risk preview, the request page, and "My requests"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import forms as intake_forms
from approvals import selectors
from approvals.models import IntakeRequest
from approvals.services import engine
from approvals.services import intake as intake_services
from approvals.services.intake_checks import preview
from approvals.views.decide import act_from_page
from governance.access import is_htmx
from governance.actors import from_request
from governance.errors import IllegalTransition, NotAllowed
from governance.ids import parse_id
from governance.lists.services import without_page
from governance.threats import profiles as threat_profiles


def _require_requester_role(request) -> None:
    if not intake_services.can_request(request.user):
        raise PermissionDenied("Tool owners, IAM and Security submit intake requests; your role does not.")


# ---------------------------------------------------------------- the form


def _render_form(request, form, formset, *, intake=None, loose_errors=None, status=200):
    result = preview(intake_forms.parse(form, formset)) if form.is_bound else None
    context = {
        "form": form,
        "formset": formset,
        "intake": intake,
        "loose_errors": loose_errors or [],
        "preview": result,
    }
    return render(request, "approvals/intake_form.html", context, status=status)


def _save(request, form, formset, *, intake=None):
    """Run the button's service: save a draft, or save and submit. Errors go back to the form (400)."""
    action = request.POST.get("action", "draft")
    answers = intake_forms.parse(form, formset)
    if not form.is_valid() or any(not row.is_valid() for row in formset.forms):
        return _render_form(request, form, formset, intake=intake, status=400)
    actor = from_request(request)
    try:
        if action == "submit":
            if intake is None:
                intake = intake_services.create_and_submit(actor, answers)
            else:
                intake = intake_services.update_and_submit(actor, intake, answers)
            if intake.state == IntakeRequest.State.APPROVED:
                messages.success(request, "Approved automatically by policy: the identity is active.")
            else:
                messages.success(
                    request, f"Submitted. Risk tier {intake.risk_tier}; it is now with the approvers."
                )
        elif intake is None:
            intake = intake_services.create_draft(actor, answers)
            messages.success(request, "Draft saved. Submit it when it is complete.")
        else:
            intake = intake_services.update_draft(actor, intake, answers)
            messages.success(request, "Changes saved.")
    except ValidationError as exc:
        loose = intake_forms.attach_errors(form, formset, exc)
        return _render_form(request, form, formset, intake=intake, loose_errors=loose, status=400)
    return redirect(intake.get_absolute_url())


@require_http_methods(["GET", "POST"])
def intake_new(request):
    _require_requester_role(request)
    if request.method == "GET":
        form, formset = intake_forms.form_pair(user=request.user)
        return _render_form(request, form, formset)
    form, formset = intake_forms.form_pair(data=request.POST)
    if request.POST.get("action") == "add_grant":  # without JavaScript: re-render with one more row
        return _render_form(request, form, _with_extra_row(request.POST))
    return _save(request, form, formset)


@require_http_methods(["GET", "POST"])
def intake_edit(request, pk: int):
    intake = selectors.intake_for_page(intake_services.visible_to(request.user), pk)
    if request.user.pk != intake.requester_id:
        raise PermissionDenied(f"Only the requester ({intake.requester.username}) can edit this request.")
    if not intake.is_editable:
        raise IllegalTransition(f"A {intake.get_state_display()} request cannot be edited.")
    if request.method == "GET":
        form, formset = intake_forms.form_pair(intake=intake)
        return _render_form(request, form, formset, intake=intake)
    form, formset = intake_forms.form_pair(data=request.POST)
    if request.POST.get("action") == "add_grant":
        return _render_form(request, form, _with_extra_row(request.POST), intake=intake)
    return _save(request, form, formset, intake=intake)


def _with_extra_row(data):
    data = data.copy()
    key = f"{intake_forms.GRANTS_PREFIX}-TOTAL_FORMS"
    data[key] = str(int(data.get(key, "0") or 0) + 1)
    return intake_forms.GrantFormSet(data=data, prefix=intake_forms.GRANTS_PREFIX)


@require_GET
def grant_row(request):
    """htmx: one more empty resource row, and the formset's new total (out of band)."""
    _require_requester_role(request)
    total = request.GET.get(f"{intake_forms.GRANTS_PREFIX}-TOTAL_FORMS", "0")
    index = int(total) if total.isascii() and total.isdigit() else 0
    if index >= 50:
        return HttpResponse(status=204)
    formset = intake_forms.GrantFormSet(prefix=intake_forms.GRANTS_PREFIX)
    row = formset.empty_form
    row.prefix = f"{intake_forms.GRANTS_PREFIX}-{index}"
    return render(
        request, "approvals/_grant_row_added.html", {"row": row, "index": index, "total": index + 1}
    )


@require_POST
def risk_preview(request):
    """htmx: tier, reasons and policy warnings for the answers so far. Writes nothing."""
    _require_requester_role(request)
    form, formset = intake_forms.form_pair(data=request.POST)
    answers = intake_forms.parse(form, formset)
    result = preview(answers)
    threats = threat_profiles.preview(answers)  # as once approved, judged by the active Cedar set
    return render(request, "approvals/_risk_preview.html", {"preview": result, "threats": threats})


# ---------------------------------------------------------------- my requests


@require_GET
def my_requests(request):
    requests = selectors.my_intake_requests(request.user)
    # The dashboard's figures link here narrowed the way they count: by state, and "requested by me".
    state = request.GET.get("state", "")
    if state in IntakeRequest.State.values:
        requests = requests.filter(state=state)
    if request.GET.get("requester") == "me":
        requests = requests.filter(requester=request.user)
    page = Paginator(requests, 25).get_page(request.GET.get("page"))
    rows = [(intake, selectors.holder_label(intake.approval, intake.state)) for intake in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "can_request": intake_services.can_request(request.user),
        "state": state if state in IntakeRequest.State.values else "",
        "state_label": IntakeRequest.State(state).label if state in IntakeRequest.State.values else "",
        "query": without_page(request.GET),
    }
    template = "approvals/my_requests.html#results" if is_htmx(request) else "approvals/my_requests.html"
    return render(request, template, context)


# ---------------------------------------------------------------- the request page


@require_GET
def intake_detail(request, pk: int):
    intake = selectors.intake_for_page(intake_services.visible_to(request.user), pk)
    context = selectors.intake_page_context(intake, request.user)
    return render(request, "approvals/intake_detail.html", context)


def _page_intake(request, pk: int) -> IntakeRequest:
    return selectors.intake_for_page(intake_services.visible_to(request.user), pk)


def _panel(
    request,
    intake,
    *,
    error: str = "",
    status: int = 200,
    decided: str = "",
    comment: str = "",
    comment_error: str = "",
):
    """The decision panel (and what changed with it). On a refusal it keeps what the person typed;
    on a conflict (409) it shows the request as it is now and who decided last."""
    intake = _page_intake(request, intake.pk)
    context = selectors.intake_page_context(intake, request.user)
    context.update(
        {
            "error": error,
            "decided": decided,
            "comment": comment,
            "comment_error": comment_error,
            "last_decision": selectors.last_decision(s for _round, steps in context["rounds"] for s in steps)
            if status == 409
            else None,
            "next_item": engine.next_awaiting(request.user, after=intake.approval)
            if decided
            else context.get("next_item"),
        }
    )
    return render(request, "approvals/_decision_response.html", context, status=status)


@require_POST
def intake_decide(request, pk: int):
    """Approve, reject or request changes (htmx fragment, or a redirect without JavaScript)."""
    intake = _page_intake(request, pk)
    decision = request.POST.get("decision", "")
    step = request.POST.get("step")
    step_id = parse_id(step)
    try:
        intake_services.decide(
            from_request(request), intake, decision, comment=request.POST.get("comment", ""), step_id=step_id
        )
    except NotAllowed as exc:
        if is_htmx(request):
            return _panel(request, intake, error=exc.message, status=403)
        raise
    except IllegalTransition as exc:
        if is_htmx(request):
            return _panel(
                request, intake, error=exc.message, status=409, comment=request.POST.get("comment", "")
            )
        raise
    except ValidationError as exc:
        message = " ".join(exc.messages)
        if is_htmx(request):
            about_comment = "comment" in getattr(exc, "error_dict", {})
            return _panel(
                request,
                intake,
                error="" if about_comment else message,
                comment_error=message if about_comment else "",
                comment=request.POST.get("comment", ""),
                status=400,
            )
        messages.error(request, message)
        return redirect(intake.get_absolute_url())
    verb = {"approve": "Approved", "reject": "Rejected", "request_changes": "Sent back for changes"}[decision]
    if is_htmx(request):
        return _panel(request, intake, decided=verb)
    messages.success(request, f"{verb}.")
    return redirect(intake.get_absolute_url())


# The request page's buttons besides deciding and commenting: action (the end of its URL) → (the
# service, called with the actor, the request and the POST; what the page says once it is done).
INTAKE_ACTIONS = {
    "submit": (
        lambda actor, intake, post: intake_services.submit(actor, intake, comment=post.get("comment", "")),
        "Submitted for approval.",
    ),
    "withdraw": (
        lambda actor, intake, post: intake_services.withdraw(actor, intake, reason=post.get("reason", "")),
        "Withdrawn.",
    ),
    "raise-tier": (
        lambda actor, intake, post: intake_services.raise_tier(
            actor, intake, post.get("risk_tier", ""), post.get("reason", "")
        ),
        "Risk tier raised; the route now follows the new tier.",
    ),
}


@require_POST
def intake_action(request, pk: int, action: str):
    service, success = INTAKE_ACTIONS[action]
    actor = from_request(request)
    return act_from_page(
        request, _page_intake(request, pk), lambda intake: service(actor, intake, request.POST), success
    )


@require_POST
def intake_comment(request, pk: int):
    intake = _page_intake(request, pk)
    if intake.approval_id is None:
        raise IllegalTransition("Submit the request before starting a discussion.")
    try:
        engine.add_comment(from_request(request), intake.approval, request.POST.get("body", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if is_htmx(request):
        intake = _page_intake(request, pk)
        context = selectors.intake_page_context(intake, request.user)
        return render(request, "approvals/intake_detail.html#discussion", context)
    return redirect(f"{intake.get_absolute_url()}#discussion")
