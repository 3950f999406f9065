"""IAM/Security reassign owners in bulk from a filtered inventory list: the ticked rows, or every
identity the filters match. Thin: parse, authorise, call `ownership.reassign_owner`, redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.access import GOVERNORS, role_required
from governance.actors import as_actor
from governance.errors import IllegalTransition
from governance.ids import parse_id
from governance.lists import services as lists
from governance.people.models import User
from inventory import ownership
from inventory.models import Identity
from inventory.views.identities import filtered, list_context

MAX_BULK = 5_000  # one transaction locks every row it reassigns


def _targets(request, params, scope: str) -> list[int]:
    if scope == "all":
        # Re-run the filters now; the page showed `expected` matches, and a different count means
        # the estate moved under the filters since: ask again rather than reassign something unseen.
        _, queryset = filtered(request, params)
        expected = request.POST.get("expected", "")
        if not (expected.isascii() and expected.isdigit()) or queryset.count() != int(expected):
            raise ValidationError(
                {
                    "scope": "The filters now match a different set of identities; "
                    "check the list and try again."
                }
            )
        ids = list(queryset.exclude(status=Identity.Status.DECOMMISSIONED).values_list("pk", flat=True))
    else:
        ids = [pk for pk in map(parse_id, request.POST.getlist("identities")) if pk is not None]
    if not ids:
        raise ValidationError({"identities": "Tick the identities to reassign, or choose all matching."})
    if len(ids) > MAX_BULK:
        raise ValidationError({"scope": f"At most {MAX_BULK} identities at once; narrow the filters."})
    return ids


@require_POST
@role_required(*GOVERNORS)
def bulk_reassign(request):
    params = lists.without_empty(QueryDict(request.POST.get("filters", "")))
    values = {
        "scope": "all" if request.POST.get("scope") == "all" else "selected",
        "new_owner": request.POST.get("new_owner", "").strip(),
        "reason": request.POST.get("reason", ""),
        "identities": request.POST.getlist("identities"),
    }
    try:
        new_owner = User.objects.filter(username=values["new_owner"], is_active=True).first()
        if new_owner is None:
            raise ValidationError({"new_owner": "Give the username of an active person."})
        ids = _targets(request, params, values["scope"])
        changed = ownership.reassign_owner(as_actor(request.user), ids, new_owner, values["reason"])
    except ValidationError as exc:
        context = list_context(request, params, reassign=values)
        errors = exc.message_dict if hasattr(exc, "message_dict") else {"all": exc.messages}
        context.update(reassign_errors=errors)
        return render(request, "inventory/identity_list.html", context, status=400)
    except IllegalTransition as exc:
        return render(request, "409.html", {"message": exc.message}, status=409)
    messages.success(
        request, f"{changed} identit{'y' if changed == 1 else 'ies'} reassigned to {new_owner.username}."
    )
    query = params.urlencode()
    return redirect(reverse("inventory:list") + (f"?{query}" if query else ""))
