"""The credentials list: every credential with its identity, age band and revocation state.

The dashboard's credential figures link here; the states, kinds and age bands are the same queryset
methods the figures count with (inventory.models.CredentialQuerySet), so a figure and its list agree.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import F
from django.shortcuts import render

from governance.access import MEMBERS, is_htmx, role_required
from governance.people.models import Role
from inventory.filters import CredentialFilter, credential_queryset
from inventory.models import Credential, Identity
from inventory.secrets_guard import looks_like_secret
from inventory.views.identities import PAGE_SIZE, _is_plain_owner, clean_query

TEMPLATE = "inventory/credential_list.html"


def shown_label(credential: Credential) -> str:
    """The label or fingerprint; should one ever look like a secret (say, written before the guard),
    only its last four characters."""
    label = credential.label
    return f"…{label[-4:]}" if looks_like_secret(label) else label


@role_required(*MEMBERS)
def credential_list(request):
    """Who may read the inventory reads its credentials (metadata only); owners land on their own."""
    params = clean_query(request.GET)
    if not request.GET and _is_plain_owner(request.user) and Identity.objects.owned_by(request.user).exists():
        params["mine"] = "true"  # as on the inventory list; the "All" tab sends mine=false
    filterset = CredentialFilter(params, queryset=credential_queryset(), request=request)
    queryset = filterset.qs if filterset.is_valid() else Credential.objects.none()
    # Live ones first, then by identity: the rows a figure counts stay together.
    queryset = queryset.order_by(
        F("revoked_at").asc(nulls_first=True), "identity__name", "kind", "label", "pk"
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(params.get("page"))
    for credential in page.object_list:
        credential.shown_label = shown_label(credential)
    query = params.copy()
    query.pop("page", None)
    context = {
        "filter": filterset,
        "page": page,
        "query": query.urlencode(),
        "mine": params.get("mine") == "true",
        "is_owner": request.user.has_role(Role.OWNER),
    }
    return render(request, f"{TEMPLATE}#results" if is_htmx(request) else TEMPLATE, context)
