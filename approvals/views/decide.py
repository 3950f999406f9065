"""Deciding a request from its page, the same for every flow on the approval engine (exceptions, JIT
access, …): approve or reject with a comment through the flow's service, and on a refusal the page
again with the reason beside the form and the comment kept — a missing comment is 400, a decision
someone else already made is 409 and the trail shows who. Any other action on the page (submit,
withdraw, revoke, …) goes through `act_from_page`."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from approvals.selectors import last_decision
from governance.actors import from_request
from governance.errors import IllegalTransition


def decide_from_page(request, subject, *, approve, reject, refused: Callable, approved: str, rejected: str):
    """POST `decision` (approve or reject) and `comment`: `approve(actor, subject, comment)` or
    `reject(...)` decides; `refused(status=, message=, field_error=)` renders a refusal."""
    approving = request.POST.get("decision") == "approve"
    try:
        (approve if approving else reject)(from_request(request), subject, request.POST.get("comment", ""))
    except IllegalTransition as exc:
        return refused(status=409, message=exc.message)
    except ValidationError as exc:
        about_comment = "comment" in getattr(exc, "error_dict", {})
        return refused(status=400, message=" ".join(exc.messages), field_error=about_comment)
    messages.success(request, approved if approving else rejected)
    return redirect(subject.get_absolute_url())


def act_from_page(request, subject, call: Callable, success: str):
    """POST of one action on `subject`'s page: `call(subject)`, then back to the page saying `success`,
    or the service's field errors. A state that moved meanwhile is the 409 page; a refusal (NotAllowed)
    is Django's 403."""
    try:
        call(subject)
    except IllegalTransition as exc:
        return render(request, "409.html", {"message": exc.message}, status=409)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(subject.get_absolute_url())
    messages.success(request, success)
    return redirect(subject.get_absolute_url())


def refused_page(request, template: str, context: Callable[[], dict]) -> Callable:
    """A `refused` for `decide_from_page`: the page again, as it is now (`context()`), with the reason
    beside the decision form and the comment kept."""

    def refused(*, status: int, message: str, field_error: bool = False):
        page = context()
        page.update(
            refusal_context(request, page["steps"], status=status, message=message, field_error=field_error)
        )
        return render(request, template, page, status=status)

    return refused


def refusal_context(request, steps, *, status: int, message: str, field_error: bool = False) -> dict:
    """What a refused decision adds to the page's context: the reason (beside the comment box when it
    is about the comment), the comment as typed, and on a lost race the decision that won."""
    return {
        "decide_error": "" if field_error else message,
        "comment_error": message if field_error else "",
        "comment": request.POST.get("comment", ""),
        "last_decision": last_decision(steps) if status == 409 else None,
    }
