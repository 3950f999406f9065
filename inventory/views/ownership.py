"""Ownership pages: propose a transfer, the transfers waiting for you, and IAM's orphan queue.

Thin: parse, authorise, call one service in inventory.ownership, render. Services check roles again.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from governance.access import GOVERNORS, MEMBERS, role_required
from governance.actors import as_actor
from governance.errors import NotAllowed
from governance.ids import parse_id
from governance.people.models import User
from inventory import access, extensions, ownership
from inventory.forms import people
from inventory.models import Identity, OwnershipTransfer, UsageEvent

PAGE_SIZE = 50


def register_identity_panel() -> None:
    extensions.register_panel(
        extensions.Panel(
            key="ownership",
            title=_("Ownership transfers"),
            template="inventory/ownership/_identity_panel.html",
            items=lambda identity: OwnershipTransfer.objects.filter(identity=identity).select_related(
                "from_owner", "to_owner"
            )[:5],
            empty=_("No ownership transfers yet."),
            help_text=_("A new owner takes over only once they accept."),
            order=20,
        )
    )
    extensions.register_panel(
        extensions.Panel(
            key="drift",
            title=_("Use outside the approved scope"),
            template="inventory/ownership/_drift_panel.html",
            items=lambda identity: UsageEvent.objects.filter(identity=identity, out_of_scope=True).order_by(
                "-at", "-pk"
            )[:10],
            empty=_("No use outside the approved grants has been reported."),
            help_text=_("Reported actions no current grant covers; each opens an out_of_scope_use finding."),
            order=25,
        )
    )


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "message_dict"):
        return exc.message_dict
    return {"all": exc.messages}


def _active_users():
    """The people a transfer or a bulk reassignment may name: those who may own (inventory.forms)."""
    return people().only("id", "username", "display_name")


def _user_or_none(username: str) -> User | None:
    return User.objects.filter(username=(username or "").strip()).first()


@role_required(*MEMBERS)
def transfer_propose(request, pk: int):
    identity = get_object_or_404(Identity.objects.select_related("owner", "backup_owner", "team"), pk=pk)
    if not (request.user.is_governor or access.is_owner(request.user, identity)):
        raise NotAllowed("Only the identity's owners, IAM or Security may transfer it.")
    errors: dict[str, list[str]] = {}
    values = {"to_owner": "", "reason": ""}
    status = 200
    if request.method == "POST":
        values = {"to_owner": request.POST.get("to_owner", ""), "reason": request.POST.get("reason", "")}
        to_owner = _user_or_none(values["to_owner"])
        try:
            if to_owner is None:
                raise ValidationError({"to_owner": "Choose the new owner."})
            ownership.propose_transfer(as_actor(request.user), [identity], to_owner, values["reason"])
        except ValidationError as exc:
            errors, status = _errors(exc), 400
        else:
            messages.success(request, f"Transfer proposed: {to_owner.username} is asked to accept it.")
            return redirect(identity.get_absolute_url())
    context = {"identity": identity, "users": _active_users(), "errors": errors, "values": values}
    return render(request, "inventory/ownership/transfer_form.html", context, status=status)


@role_required(*MEMBERS)
def transfer_inbox(request):
    user = request.user
    related = ("identity", "from_owner", "to_owner")
    waiting = OwnershipTransfer.objects.filter(to_owner=user, state=OwnershipTransfer.State.PROPOSED)
    sent = OwnershipTransfer.objects.filter(
        Q(proposed_by=user.username) | Q(from_owner=user), state=OwnershipTransfer.State.PROPOSED
    ).exclude(to_owner=user)
    recent = OwnershipTransfer.objects.filter(Q(to_owner=user) | Q(from_owner=user)).exclude(
        state=OwnershipTransfer.State.PROPOSED
    )
    context = {
        "waiting": list(waiting.select_related(*related)[:200]),
        "sent": list(sent.select_related(*related)[:200]),
        "recent": list(recent.select_related(*related)[:20]),
    }
    return render(request, "inventory/ownership/transfers.html", context)


TRANSFER_ACTIONS = {
    "accept": (ownership.accept_transfer, "Transfer accepted: you now own {identity}."),
    "decline": (ownership.decline_transfer, "Transfer declined: {identity} keeps its owner."),
    "cancel": (ownership.cancel_transfer, "Transfer of {identity} cancelled."),
}


@require_POST
@role_required(*MEMBERS)
def transfer_decide(request, pk: int, action: str):
    transfer = get_object_or_404(OwnershipTransfer.objects.select_related("identity"), pk=pk)
    service, message = TRANSFER_ACTIONS[action]
    service(as_actor(request.user), transfer, request.POST.get("comment", ""))
    messages.success(request, message.format(identity=transfer.identity.name))
    return redirect("inventory:transfers")


@role_required(*GOVERNORS)
def orphans(request):
    queryset = ownership.orphans().select_related("owner", "backup_owner", "team").order_by("name", "pk")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    credentials = (
        ownership.credentials_to_rotate()
        .select_related("identity", "created_by")
        .order_by("identity__name", "kind", "label")[:200]
    )
    errors: dict[str, list[str]] = {}
    values = {"owner": "", "reason": ""}
    status = 200
    if request.method == "POST":
        values = {"owner": request.POST.get("owner", ""), "reason": request.POST.get("reason", "")}
        ids = [pk for pk in map(parse_id, request.POST.getlist("identities")) if pk is not None]
        new_owner = _user_or_none(values["owner"])
        try:
            if new_owner is None:
                raise ValidationError({"owner": "Choose the new owner."})
            changed = ownership.reassign_owner(as_actor(request.user), ids, new_owner, values["reason"])
        except ValidationError as exc:
            errors, status = _errors(exc), 400
        else:
            messages.success(
                request,
                f"{changed} identit{'y' if changed == 1 else 'ies'} reassigned to {new_owner.username}.",
            )
            return redirect("inventory:orphans")
    context = {
        "page": page,
        "credentials": list(credentials),
        "users": _active_users(),
        "errors": errors,
        "values": values,
        "query": "",
    }
    return render(request, "inventory/ownership/orphans.html", context, status=status)
