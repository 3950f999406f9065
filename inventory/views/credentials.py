"""The credentials list: every credential with its identity, age band and revocation state.

The dashboard's credential figures link here; the states, kinds and age bands are the same queryset
methods the figures count with (inventory.models.CredentialQuerySet), so a figure and its list agree.
"""

from __future__ import annotations

from functools import partial

from django.core.paginator import Paginator
from django.db.models import F, Q
from django.shortcuts import render

from governance.access import MEMBERS, is_htmx, role_required
from governance.lists import services as lists
from governance.lists.export import csv_response
from governance.paging import GroupsPaginator
from governance.people.models import Role
from inventory.filters import CredentialFilter, credential_queryset
from inventory.models import Credential, Identity
from inventory.secrets_guard import looks_like_secret
from inventory.views.identities import PAGE_SIZE, _is_plain_owner

TEMPLATE = "inventory/credential_list.html"
CREDENTIALS_LIST = lists.register(
    lists.ListSpec(
        key="credentials",
        title="Credentials",
        url_name="credentials",
        export_name="credentials-export",
        roles=MEMBERS,
        columns=(
            ("label", "Credential"),
            ("identity", "Identity"),
            ("team", "Team"),
            ("kind", "Kind"),
            ("issued_at", "Issued"),
            ("last_rotated_at", "Last rotated"),
            ("age", "Age"),
            ("expires_at", "Expires"),
            ("status", "Status"),
        ),
        fixed=("identity",),
    )
)
EXPORT_HEADER = [
    "id", "label", "storage", "identity_id", "identity", "team", "kind", "federated", "issued_at",
    "last_rotated_at", "age_band", "expires_at", "revoked_at", "revocation_confirmed_at",
]  # fmt: skip


def shown_label(credential: Credential) -> str:
    """The label or fingerprint; should one ever look like a secret (say, written before the guard),
    only its last four characters."""
    label = credential.label
    return f"…{label[-4:]}" if looks_like_secret(label) else label


# The list's order (`_filtered`) as two groups an index can page: the live credentials by identity,
# then the revoked ones by when (governance.paging.GroupsPaginator).
BY_IDENTITY = ("identity__name", "kind", "label", "pk")
LIVE_THEN_REVOKED = (
    (Q(revoked_at__isnull=True), BY_IDENTITY),
    (Q(revoked_at__isnull=False), (F("revoked_at").asc(nulls_first=True), *BY_IDENTITY)),
)


def _filtered(request, params):
    filterset = CredentialFilter(params, queryset=credential_queryset(), request=request)
    queryset = filterset.qs if filterset.is_valid() else Credential.objects.none()
    # Live ones first, then by identity: the rows a figure counts stay together.
    queryset = queryset.order_by(F("revoked_at").asc(nulls_first=True), *BY_IDENTITY)
    return filterset, queryset


@role_required(*MEMBERS)
def credential_export(request):
    """Exactly the list's current filter as CSV, streamed; labels shown as the list shows them."""
    _, queryset = _filtered(request, lists.without_empty(request.GET))
    rows = (
        (
            c.pk,
            shown_label(c),
            c.storage,
            c.identity_id,
            c.identity.name,
            c.identity.team.slug if c.identity.team_id else "",
            c.kind,
            c.is_federated,
            c.issued_at,
            c.last_rotated_at,
            c.age_band,
            c.expires_at,
            c.revoked_at,
            c.revocation_confirmed_at,
        )  # fmt: skip
        for c in queryset.iterator(chunk_size=2000)
    )
    return csv_response("credentials", EXPORT_HEADER, rows)


@role_required(*MEMBERS)
def credential_list(request):
    """Who may read the inventory reads its credentials (metadata only); owners land on their own."""
    params = lists.without_empty(request.GET)
    if not request.GET and _is_plain_owner(request.user) and Identity.objects.owned_by(request.user).exists():
        params["mine"] = "true"  # as on the inventory list; the "All" tab sends mine=false
    filterset, queryset = _filtered(request, params)
    # Unfiltered, the live group pages from the identities' name index. A filter can leave a group with
    # few rows or none, and a page would then walk that index to its end looking for them: filtered
    # lists are sorted as a whole, as before.
    filtering = not filterset.is_valid() or any(filterset.form.cleaned_data.values())
    paginator = Paginator if filtering else partial(GroupsPaginator, groups=LIVE_THEN_REVOKED)
    page = paginator(queryset, PAGE_SIZE).get_page(params.get("page"))
    for credential in page.object_list:
        credential.shown_label = shown_label(credential)
    context = {
        **lists.page_context(request.user, CREDENTIALS_LIST, filterset, page, params),
        "mine": params.get("mine") == "true",
        "is_owner": request.user.has_role(Role.OWNER),
    }
    return render(request, f"{TEMPLATE}#results" if is_htmx(request) else TEMPLATE, context)
