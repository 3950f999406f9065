"""Inventory pages: the list (filters, sort, htmx, CSV), the identity page, edits and lifecycle moves.

Thin: parse, authorise, call one service, render. Services check roles again.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from approvals.routing import describe_steps, steps_for
from governance.access import GOVERNORS, MEMBERS, is_htmx, role_required
from governance.actors import as_actor
from governance.csv_safety import safe_cell
from governance.errors import NotAllowed
from governance.lists import services as lists
from governance.paging import CountedPaginator, OnePassPaginator
from governance.people.models import Role
from governance.reviews.queries import review_history
from inventory import access, edits, extensions, services, timeline
from inventory.filters import IdentityFilter, base_queryset, search_only, search_rows
from inventory.forms import (
    ActivateForm,
    ConfirmRevocationForm,
    CredentialForm,
    IdentityEditForm,
    ReasonForm,
    RotationForm,
    add_service_errors,
)
from inventory.models import ActivationRequest, Credential, Grant, Identity, ResourceKind, ScopeChange
from inventory.tally import identity_tally, unfiltered
from inventory.views.rows import with_cells

PAGE_SIZE = 50
SORTABLE = [
    ("name", "Name"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("risk_tier", "Tier"),
    ("owner", "Owner"),
    ("team", "Team"),
    ("last_used_at", "Last used"),
]
# The columns a person may choose (issue 22 item 6); the first nine are the default, the name always shows.
INVENTORY_LIST = lists.register(
    lists.ListSpec(
        key="inventory",
        title="Inventory",
        url_name="inventory:list",
        export_name="inventory:export",
        roles=MEMBERS,
        columns=(
            ("name", "Name"),
            ("kind", "Kind"),
            ("vendor", "Vendor / product"),
            ("status", "Status"),
            ("risk_tier", "Tier"),
            ("owner", "Owner"),
            ("team", "Team"),
            ("last_used_at", "Last used"),
            ("environments", "Environments"),
            ("next_review_due", "Review due"),
            ("data_classification", "Data class"),
            ("source", "Source"),
            ("external_id", "External id"),
        ),
        default=(
            "name",
            "kind",
            "vendor",
            "status",
            "risk_tier",
            "owner",
            "team",
            "last_used_at",
            "environments",
        ),  # fmt: skip
        fixed=("name",),
    )
)
EXPORT_COLUMNS = [
    "id",
    "name",
    "kind",
    "status",
    "risk_tier",
    "vendor",
    "product",
    "model_name",
    "owner",
    "backup_owner",
    "team",
    "environments",
    "data_classification",
    "autonomous",
    "last_used_at",
    "next_review_due",
    "source",
    "external_id",
    "purpose",
]
# The lifecycle buttons of the identity page: action → (service, button label, message). Which moves are
# legal is the model's `Identity.TRANSITIONS`; the services check it.
LIFECYCLE_ACTIONS = {
    "suspend": (services.suspend, "Suspend", "identity suspended"),
    "reactivate": (services.reactivate, "Reactivate", "identity reactivated"),
    "decommission": (services.decommission, "Decommission", "identity decommissioned"),
}


def _is_plain_owner(user) -> bool:
    return user.has_role(Role.OWNER) and not user.is_governor and not user.is_auditor


def _clean_params(request):
    return lists.without_empty(request.GET)


def filtered(request, params):
    filterset = IdentityFilter(params, queryset=base_queryset(), request=request)
    queryset = filterset.qs if filterset.is_valid() else Identity.objects.none()
    if not params.get("ordering"):
        if _is_plain_owner(request.user):
            # A tool owner sees what they own first.
            mine = Q(owner=request.user) | Q(backup_owner=request.user)
            queryset = queryset.annotate(
                mine_first=Case(When(mine, then=Value(0)), default=Value(1), output_field=IntegerField())
            ).order_by("mine_first", "name", "pk")
        else:
            queryset = queryset.order_by("name", "pk")
    return filterset, queryset


def _sort_links(params, current: str) -> list[dict]:
    links = []
    for key, label in SORTABLE:
        direction = "asc" if current == key else "desc" if current == f"-{key}" else ""
        query = params.copy()
        query.pop("page", None)
        query["ordering"] = f"-{key}" if direction == "asc" else key
        links.append({"key": key, "label": label, "direction": direction, "query": query.urlencode()})
    return links


@role_required(*MEMBERS)
def identity_list(request):
    params = _clean_params(request)
    if not request.GET and _is_plain_owner(request.user) and Identity.objects.owned_by(request.user).exists():
        params["mine"] = "true"  # owners land on "Mine"; the "All" tab sends mine=false
    context = list_context(request, params)
    template = "inventory/identity_list.html#results" if is_htmx(request) else "inventory/identity_list.html"
    return render(request, template, context)


def list_context(request, params, reassign: dict | None = None) -> dict:
    """What the list page shows for these (cleaned) filters; the bulk reassignment re-renders it too,
    with what was posted (`reassign`)."""
    filterset, queryset = filtered(request, params)
    # A text search reads every candidate row anyway: count them in the same pass (governance.paging),
    # from the narrow search table when the search is the only filter and the order is by name.
    if (params.get("search") or "").strip():
        # Not for a tool owner (their own first) or filters that do not validate (the list is then empty).
        same_answer = filterset.is_valid() and not _is_plain_owner(request.user)
        matches = search_rows(search_only(params)) if same_answer else None
        paginator = partial(OnePassPaginator, counted=matches)
    else:  # unfiltered on PostgreSQL the tally has the number (inventory.tally), as for the API
        # An ordering that does not validate lists nothing, and so counts nothing.
        whole = filterset.is_valid() and unfiltered(params)
        paginator = partial(CountedPaginator, counted=identity_tally() if whole else None)
    page = paginator(queryset, PAGE_SIZE).get_page(params.get("page"))
    page.object_list = list(page.object_list)
    listed = lists.page_context(request.user, INVENTORY_LIST, filterset, page, params)
    can_reassign = request.user.is_governor
    reassign = reassign or {"scope": "selected", "new_owner": "", "reason": "", "identities": []}
    today = timezone.localdate()
    selected = set(reassign["identities"]) if can_reassign else None
    with_cells(page.object_list, listed["shown"], today=today, selected=selected)
    sort_links = {col["key"]: col for col in _sort_links(params, params.get("ordering", ""))}
    context = {
        **listed,
        "header": [
            {"key": key, "label": INVENTORY_LIST.label(key), "sort": sort_links.get(key)}
            for key in listed["shown"]
        ],
        "ordering": params.get("ordering", ""),
        "mine": params.get("mine") == "true",
        "is_owner": request.user.has_role(Role.OWNER),
        "can_import": request.user.is_governor,
        "can_reassign": can_reassign,
        "reassign": reassign,
        "reassign_errors": {},
    }
    return context


def _csv_safe(value) -> str:
    return safe_cell("" if value is None else str(value))


class _Echo:
    def write(self, value):
        return value


def _export_rows(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for identity in queryset.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _csv_safe(v)
                for v in (
                    identity.pk,
                    identity.name,
                    identity.kind,
                    identity.status,
                    identity.risk_tier,
                    identity.vendor,
                    identity.product,
                    identity.model_name,
                    identity.owner.username if identity.owner_id else "",
                    identity.backup_owner.username if identity.backup_owner_id else "",
                    identity.team.slug if identity.team_id else "",
                    ";".join(identity.environments),
                    identity.data_classification,
                    "true" if identity.autonomous else "false",
                    identity.last_used_at.isoformat() if identity.last_used_at else "",
                    identity.next_review_due.isoformat() if identity.next_review_due else "",
                    identity.source,
                    identity.external_id,
                    identity.purpose,
                )
            ]
        )


@role_required(*MEMBERS)
def identity_export(request):
    """The filtered list as CSV, streamed (flat memory whatever the estate's size)."""
    _, queryset = filtered(request, _clean_params(request))
    response = StreamingHttpResponse(_export_rows(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="steward-inventory-{stamp}.csv"'
    return response


def _identity_or_404(pk: int) -> Identity:
    return get_object_or_404(base_queryset(), pk=pk)


GRANTS_SHOWN = 25  # current grants on the identity page before "Show all"
GRANT_ORDER = ("resource_kind", "resource_name", "pk")
GRANT_GROUPS = ("current", "ended")  # the htmx fragments of the grants table


def _grant_count(grants):
    """The identity's grants in `grants`, counted in a subquery of the identity query itself."""
    counted = grants.filter(identity=OuterRef("pk")).order_by().values("identity").annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n")), 0)


def _labelled(grants: list[Grant]) -> list[Grant]:
    """Each grant with its kind and origin labels, translated once per request: get_FOO_display()
    rebuilds and translates the whole choice list on every call, most of a grant row's cost."""
    kinds = {value: str(label) for value, label in ResourceKind.choices}
    origins = {value: str(label) for value, label in Grant.Origin.choices}
    for grant in grants:
        grant.kind_label = kinds.get(grant.resource_kind, grant.resource_kind)
        grant.origin_label = origins.get(grant.origin, grant.origin)
    return grants


def _latest_ended_first(grants: list[Grant]) -> list[Grant]:
    """Ended or expired grants, the most recently ended (or expired) first."""
    return sorted(grants, key=lambda g: g.ended_at or g.expires_at, reverse=True)


def _grant_rows(request, pk: int, group: str, now):
    """The htmx fragment: every current, or every ended-or-expired, grant row of the identity."""
    identity = get_object_or_404(Identity.objects.only("pk"), pk=pk)
    grants = identity.grants.order_by(*GRANT_ORDER)
    if group == "current":
        rows = list(grants.current(now))
    else:
        rows = _latest_ended_first(list(grants.ended_or_expired(now)))
    context = {
        "grant_rows": _labelled(rows),
        "ended": group == "ended",
        "now": now,
        "soon": now + timedelta(days=14),
    }
    return render(request, "inventory/identity_detail.html#grant-rows", context)


def _history_page(request, identity: Identity):
    """A page of the whole story: the identity's own events plus its intake, approvals, reviews, ..."""
    history_page = Paginator(timeline.timeline_events(identity), 20).get_page(request.GET.get("history_page"))
    history_page.object_list = timeline.describe(history_page.object_list, identity)
    return history_page


@role_required(*MEMBERS)
def identity_detail(request, pk: int):
    now = timezone.now()
    grants_shown = request.GET.get("grants", "")
    if is_htmx(request) and grants_shown in GRANT_GROUPS:
        return _grant_rows(request, pk, grants_shown, now)
    if is_htmx(request) and request.GET.get("history_page"):
        identity = _identity_or_404(pk)
        context = {"identity": identity, "history": _history_page(request, identity)}
        return render(request, "inventory/identity_detail.html#history", context)
    # The page shows the first current grants and counts the rest; "?grants=all" (the link behind
    # each "Show" button, for use without JavaScript) shows every grant. One query either way.
    show_all_grants = grants_shown == "all"
    grants = Grant.objects.order_by(*GRANT_ORDER)
    if not show_all_grants:
        grants = grants.current(now)[:GRANTS_SHOWN]
    identity = get_object_or_404(
        base_queryset()
        .annotate(
            current_grants=_grant_count(Grant.objects.current(now)),
            ended_grants=_grant_count(Grant.objects.ended_or_expired(now)),
        )
        .prefetch_related(
            Prefetch("grants", queryset=grants, to_attr="shown_grants"),
            Prefetch("credentials", queryset=Credential.objects.order_by("revoked_at", "kind", "label")),
        ),
        pk=pk,
    )
    _labelled(identity.shown_grants)
    current_grants = [g for g in identity.shown_grants if g.is_current_at(now)]
    ended_grants = _latest_ended_first([g for g in identity.shown_grants if not g.is_current_at(now)])
    user = request.user
    can_edit = access.can_edit(user, identity)
    credentials = list(identity.credentials.all())
    for credential in credentials:
        since = credential.rotated_or_issued
        credential.age_days = (now - since).days if since else None
    context = {
        "identity": identity,
        "current_grants": current_grants,
        "ended_grants": ended_grants,
        "grant_counts": {
            "current": identity.current_grants,
            "ended": identity.ended_grants,
            "hidden_current": identity.current_grants - len(current_grants),
        },
        "credentials": credentials,
        "pending_revocations": [c for c in credentials if c.revocation_pending],
        "usage_events": list(identity.usage_events.order_by("-at")[:20]),
        "history": _history_page(request, identity),
        "review_items": list(review_history(identity)[:20]),  # the Reviews tab's count and its card
        "identity_panels": extensions.identity_panels(identity),
        "extra_risk_reasons": extensions.extra_risk_reasons(identity),
        "can_edit": can_edit,
        "is_governor": user.is_governor,
        "actions": _available_actions(user, identity, can_edit),
        "reason_form": ReasonForm(),
        "revocation_form": ConfirmRevocationForm(),
        "now": now,
        "today": timezone.localdate(),
        "soon": now + timedelta(days=14),
    }
    return render(request, "inventory/identity_detail.html", context)


def _available_actions(user, identity: Identity, can_edit: bool) -> list[dict]:
    actions = []
    if can_edit and identity.can_move_to(Identity.Status.SUSPENDED):
        actions.append({"key": "suspend", "label": "Suspend", "style": "warning", "icon": "pause-circle"})
    if user.is_governor and identity.status == Identity.Status.SUSPENDED:
        actions.append(
            {"key": "reactivate", "label": "Reactivate", "style": "success", "icon": "play-circle"}
        )
    if can_edit and identity.can_move_to(Identity.Status.DECOMMISSIONED):
        actions.append(
            {"key": "decommission", "label": "Decommission", "style": "danger", "icon": "x-octagon"}
        )
    return actions


@role_required(*MEMBERS)
def identity_edit(request, pk: int):
    identity = _identity_or_404(pk)
    user = request.user
    if not access.can_edit(user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may edit it.")
    form = IdentityEditForm(request.POST or None, identity=identity, governor=user.is_governor)

    def submit():
        outcome = edits.edit_identity(
            as_actor(user),
            identity,
            form.changes(),
            expected_version=form.cleaned_data["version"],
            reason=form.cleaned_data.get("reason", ""),
        )
        _edit_messages(request, identity, outcome)
        if outcome.scope_change is not None and outcome.scope_change.state == ScopeChange.State.PENDING:
            return redirect("inventory:scope-change", pk=outcome.scope_change.pk)
        return redirect(identity.get_absolute_url())

    context = {"identity": identity, "governor": user.is_governor}
    return _form_page(request, form, submit, "inventory/identity_form.html", context)


def _edit_messages(request, identity: Identity, outcome) -> None:
    change, nomination = outcome.scope_change, outcome.nomination
    if change is None and nomination is None:
        messages.success(request, f"Saved changes to {identity.name}.")
        return
    if change is not None and change.state == ScopeChange.State.PENDING:
        wanted = ", ".join(
            sorted(change.changes) + (["environments"] if change.environments is not None else [])
        )
        messages.info(
            request,
            f"{identity.name}: {wanted} change what it is, so they were asked for as scope change "
            f"#{change.pk} ({change.risk_tier} tier); nothing changes until it is approved.",
        )
    elif change is not None:
        messages.success(request, f"{identity.name}: environments removed.")
    if nomination is not None:
        messages.info(
            request,
            f"{nomination.to_owner.username} is asked to be backup owner of {identity.name}; "
            "they take the seat once they accept.",
        )


@role_required(*MEMBERS)
def identity_transition(request, pk: int, action: str):
    """GET: a page with the reason form (works without JavaScript). POST: do it."""
    identity = _identity_or_404(pk)
    service, label, done = LIFECYCLE_ACTIONS[action]
    # Who may comes before the form: nobody else is shown a reason form they could never use.
    allowed = request.user.is_governor if action == "reactivate" else access.can_edit(request.user, identity)
    if not allowed:
        raise PermissionDenied(f"Only the identity's owners, IAM or Security may {label.lower()} it.")
    form = ReasonForm(request.POST or None)

    def submit():
        service(as_actor(request.user), identity, form.cleaned_data["reason"])
        messages.success(request, f"{identity.name}: {done}.")
        return redirect(identity.get_absolute_url())

    context = {"identity": identity, "action": action, "label": label}
    return _form_page(request, form, submit, "inventory/identity_transition.html", context)


@require_POST
@role_required(*MEMBERS)
def confirm_revocation(request, pk: int):
    credential = get_object_or_404(Credential.objects.select_related("identity"), pk=pk)
    if not access.can_edit(request.user, credential.identity):
        raise PermissionDenied("Only the identity's owners, IAM or Security may confirm a revocation.")
    form = ConfirmRevocationForm(request.POST)
    url = credential.identity.get_absolute_url()
    if not form.is_valid():
        messages.error(request, "Give a note or ticket reference proving the revocation.")
        return redirect(url)
    services.confirm_credential_revocation(as_actor(request.user), credential, form.cleaned_data["note"])
    messages.success(request, f"Revocation of {credential} confirmed.")
    return redirect(url)


def _form_page(request, form, submit: Callable[[], HttpResponse], template: str, context: dict):
    """A page with one form. GET shows it; a valid POST calls `submit()`, which runs the service and
    returns where to go. A refusal, by the form or by the service, shows the form again (400) with
    the service's messages beside their fields."""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                return submit()
            except ValidationError as exc:
                add_service_errors(form, exc)
        status = 400
    return render(request, template, {**context, "form": form}, status=status)


@role_required(*MEMBERS)
def credential_new(request, pk: int):
    """Record one more credential (metadata only) for an identity its editor may change."""
    identity = _identity_or_404(pk)
    if not access.can_edit(request.user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may record its credentials.")
    form = CredentialForm(request.POST or None)

    def submit():
        credential = services.add_credential(
            as_actor(request.user), identity, form.credential(), form.cleaned_data["reason"]
        )
        messages.success(request, f"{identity.name}: credential {credential} recorded.")
        return redirect(identity.get_absolute_url())

    context = {"identity": identity, "title": "Add a credential", "submit": "Add credential"}
    return _form_page(request, form, submit, "inventory/credential_form.html", context)


@role_required(*MEMBERS)
def credential_rotate(request, pk: int):
    """Record that the secret behind a live credential was replaced (its age restarts)."""
    credential = get_object_or_404(Credential.objects.select_related("identity"), pk=pk)
    identity = credential.identity
    if not access.can_edit(request.user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may record a rotation.")
    form = RotationForm(request.POST or None)

    def submit():
        data = form.cleaned_data
        # A date of today means "just now" (midnight could precede today's issue time).
        rotated_at = data["rotated_at"] if data["rotated_at"] != timezone.localdate() else None
        services.record_rotation(
            as_actor(request.user),
            credential,
            rotated_at=rotated_at,
            label=data["label"],
            expires_at=data["expires_at"],
            note=data["note"],
        )
        messages.success(request, f"{identity.name}: rotation of {credential} recorded.")
        return redirect(identity.get_absolute_url())

    context = {
        "identity": identity,
        "credential": credential,
        "title": f"Record a rotation of {credential}",
        "submit": "Record rotation",
    }
    return _form_page(request, form, submit, "inventory/credential_form.html", context)


@role_required(*GOVERNORS)
def triage(request):
    """Discovered identities waiting for an owner, and proposed ones (imported, or an activation that was
    rejected): adopt them (activate, routed by tier) or decommission them. Proposed identities whose
    activation is waiting for approval link to it instead."""
    pending = ActivationRequest.objects.filter(identity=OuterRef("pk"), state=ActivationRequest.State.PENDING)
    queryset = (
        base_queryset()
        .filter(status__in=(Identity.Status.DISCOVERED, Identity.Status.PROPOSED))
        .annotate(pending_activation=Subquery(pending.values("pk")[:1]))
        .order_by("-created_at", "pk")
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "inventory/triage.html", {"page": page, "form": ActivateForm(), "query": ""})


@require_POST
@role_required(*GOVERNORS)
def activate(request, pk: int):
    identity = _identity_or_404(pk)
    form = ActivateForm(request.POST)
    if form.is_valid():
        try:
            services.activate(
                as_actor(request.user),
                identity,
                form.cleaned_data["reason"],
                owner=form.cleaned_data["owner"],
                backup_owner=form.cleaned_data.get("backup_owner"),
            )
        except ValidationError as exc:
            messages.error(request, f"{identity.name}: {' '.join(exc.messages)}")
        else:
            _activation_messages(request, identity, form.cleaned_data)
    else:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"{identity.name}: {problems}")
    return redirect("inventory:triage")


def _activation_messages(request, identity: Identity, data) -> None:
    identity.refresh_from_db()
    if identity.status == Identity.Status.ACTIVE:
        messages.success(request, f"{identity.name} is now active, owned by {data['owner']}.")
    else:
        route = describe_steps(steps_for(identity.risk_tier))
        messages.info(
            request,
            f"{identity.name} is {identity.risk_tier} risk: owned by {data['owner']}, it waits as proposed "
            f"for its approval route ({route}) before it is active.",
        )
    backup = data.get("backup_owner")
    if backup is not None and identity.backup_owner_id != backup.pk:
        messages.info(request, f"{backup.username} is asked to be backup owner; they accept or decline.")
