"""The inventory's filters, shared by the list page, the CSV export and the API."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django.db import connection, connections
from django.db.models import Case, F, Func, IntegerField, Q, TextField, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.ids import parse_id
from governance.people.models import Team
from inventory.models import (
    CREDENTIAL_AGE_BANDS,
    NO_DATE_BAND,
    Credential,
    Environment,
    Identity,
    IdentitySearchRow,
    RiskTier,
)

NONE = "(none)"  # the filter value for "no vendor / no model recorded"
SEARCH_FIELDS = ("name", "vendor", "product", "model_name", "purpose", "external_id")
# Joins the searched columns into one text on PostgreSQL; a control character no search term holds
# (one that does is searched column by column), so a match cannot straddle two columns.
SEARCH_SEPARATOR = "\x1f"


class SearchDocument(Func):
    """name, vendor, product, model_name, purpose and external_id joined by SEARCH_SEPARATOR, the
    expression the trigram index `identity_search_trgm` holds (migration 0011). The SQL must stay
    character for character what that index was built on, or the planner cannot match the two."""

    template = "(%(expressions)s)"
    arg_joiner = " || E'\\x1f' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(*(F(field) for field in SEARCH_FIELDS))


# Public sort keys -> model fields (nulls sort last for "last used" so stale ones surface on -last_used).
ORDERING_FIELDS = (
    ("name", "name"),
    ("kind", "kind"),
    ("risk_tier", "risk_tier"),
    ("status", "status"),
    ("last_used_at", "last_used_at"),
    ("owner__username", "owner"),
    ("team__slug", "team"),
)
# Tiers sort by severity, not alphabetically.
TIER_RANK = Case(
    *[When(risk_tier=t, then=Value(i)) for i, t in enumerate(RiskTier.values)],
    output_field=IntegerField(),
)


class TierAwareOrderingFilter(django_filters.OrderingFilter):
    def filter(self, qs, value):
        if not value:
            return qs
        order = []
        for key in value:
            desc = key.startswith("-")
            field = self.param_map.get(key.lstrip("-"))
            if field is None:
                continue
            if field == "risk_tier":
                qs = qs.annotate(tier_rank=TIER_RANK)
                field = "tier_rank"
            if field == "last_used_at":
                # Never used counts as the oldest use.
                column = F(field)
                order.append(column.desc(nulls_last=True) if desc else column.asc(nulls_first=True))
                continue
            order.append(f"-{field}" if desc else field)
        return qs.order_by(*order, "pk")


class IdentityFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        help_text=_("Name, vendor, product, model, purpose or external id"),
    )
    # distinct=False: these are columns of the row itself, so no duplicates to remove; django-filter's
    # default SELECT DISTINCT over every column doubled the filtered list's cost at 100,000 rows.
    kind = django_filters.MultipleChoiceFilter(choices=Identity.Kind.choices, label=_("Kind"), distinct=False)
    status = django_filters.MultipleChoiceFilter(
        choices=Identity.Status.choices, label=_("Status"), distinct=False
    )
    risk_tier = django_filters.MultipleChoiceFilter(
        choices=RiskTier.choices, label=_("Risk tier"), distinct=False
    )
    owner = django_filters.CharFilter(
        method="filter_owner", label=_("Owner"), help_text=_("Username of the owner")
    )
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label=_("Team"), empty_label=_("Any team")
    )
    environment = django_filters.ChoiceFilter(
        choices=Environment.choices,
        method="filter_environment",
        label=_("Environment"),
        empty_label=_("Any environment"),
    )
    vendor = django_filters.CharFilter(
        method="filter_exact_or_none",
        label=_("Vendor"),
        help_text=_("Exact vendor; `(none)` for identities with no vendor recorded"),
    )
    model_name = django_filters.CharFilter(
        method="filter_exact_or_none",
        label=_("Model"),
        help_text=_("Exact model name; `(none)` for identities with no model recorded"),
    )
    no_owner = django_filters.BooleanFilter(
        method="filter_no_owner", label=_("No owner"), widget=forms.CheckboxInput
    )
    unused_days = django_filters.NumberFilter(
        method="filter_unused_days",
        label=_("Unused for days"),
        min_value=1,
        max_value=36500,
        help_text=_("Not used for at least this many days (never used counts)"),
    )
    review_overdue = django_filters.BooleanFilter(
        method="filter_review_overdue", label=_("Review overdue"), widget=forms.CheckboxInput
    )
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("Mine"), widget=forms.CheckboxInput)
    ordering = TierAwareOrderingFilter(fields=ORDERING_FIELDS, label=_("Sort by"))

    class Meta:
        model = Identity
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return search(queryset, value)

    def filter_owner(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(owner__username=value)

    def filter_exact_or_none(self, queryset, name, value):
        # An empty query value is dropped by the list page, so "(none)" asks for the blank ones.
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(**{name: "" if value == NONE else value})

    def filter_environment(self, queryset, name, value):
        return queryset.in_environment(value) if value else queryset

    def filter_no_owner(self, queryset, name, value):
        return queryset.filter(owner__isnull=True) if value else queryset

    def filter_unused_days(self, queryset, name, value):
        if value is None:
            return queryset
        cutoff = timezone.now() - timedelta(days=int(value))
        return queryset.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff))

    def filter_review_overdue(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(next_review_due__lt=timezone.localdate()).exclude(
            status=Identity.Status.DECOMMISSIONED
        )

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None or not user.is_authenticated:
            return queryset
        return queryset.owned_by(user)


def search(queryset, term: str):
    """Identities with `term` in any of SEARCH_FIELDS (case-insensitive substring, Django's
    `icontains`), or whose id it is.

    On PostgreSQL the six columns are searched as one joined text, `UPPER(doc) LIKE UPPER('%term%')`,
    which the trigram index serves (a substring of the joined text that holds no separator lies
    inside one column, so the rows are the same). Elsewhere, and for a term holding the separator,
    each column is matched on its own. Terms under three characters give no trigram: they scan.
    """
    term = term.strip()
    if not term:
        return queryset
    if connections[queryset.db].vendor == "postgresql" and SEARCH_SEPARATOR not in term:
        queryset = queryset.alias(search_document=SearchDocument())
        query = Q(search_document__icontains=term)
    else:
        query = Q()
        for field in SEARCH_FIELDS:
            query |= Q(**{f"{field}__icontains": term})
    if (pk := parse_id(term)) is not None:
        query |= Q(pk=pk)
    return queryset.filter(query)


def search_only(params) -> str:
    """The search term when `search` is the only one of the inventory's filters in `params` (an
    ordering counts as one), else ''."""
    named = [name for name in IdentityFilter.base_filters if name in params]
    return (params.get("search") or "").strip() if named == ["search"] else ""


def search_rows(term: str):
    """What `search(identities, term)` finds, as rows of the narrow search table (their pk is the
    identity's id), in name order: counting them reads a fifth of the pages (migration 0014). None
    where that table is not the same answer: another database, no term, or a term holding the
    separator (searched column by column)."""
    if not term or connection.vendor != "postgresql" or SEARCH_SEPARATOR in term:
        return None
    query = Q(document__icontains=term)
    if (pk := parse_id(term)) is not None:
        query |= Q(pk=pk)
    return IdentitySearchRow.objects.filter(query).order_by("name", "pk")


def base_queryset():
    """What every inventory list reads: the identity and the people and team it names (one query)."""
    return Identity.objects.select_related("owner", "backup_owner", "team")


# The credentials list: each state is a queryset method the dashboard's figures count with.
CREDENTIAL_STATES = (
    ("live", _("Live (not revoked, identity not decommissioned)")),
    ("revoked", _("Revoked")),
    ("revocation_pending", _("Revoked — confirmation pending")),
    ("revocation_confirmed", _("Revoked — confirmed")),
)
KIND_CLASSES = (("static", _("Static")), ("federated", _("Short-lived federated")))
AGE_BAND_CHOICES = (
    *((label, f"{label} days") for label, _low, _high in CREDENTIAL_AGE_BANDS),
    (NO_DATE_BAND, _("No issue or rotation date")),
)


class CredentialFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="identity__name",
        lookup_expr="icontains",
        label=_("Identity"),
        help_text=_("Identity name"),
    )
    state = django_filters.ChoiceFilter(
        choices=CREDENTIAL_STATES, method="filter_state", label=_("Status"), empty_label=_("Any status")
    )
    kind = django_filters.MultipleChoiceFilter(
        choices=Credential.Kind.choices, label=_("Kind"), distinct=False
    )
    kind_class = django_filters.ChoiceFilter(
        choices=KIND_CLASSES, method="filter_kind_class", label=_("Static or federated"), empty_label=_("Any")
    )
    age_band = django_filters.ChoiceFilter(
        choices=AGE_BAND_CHOICES,
        method="filter_age_band",
        label=_("Age since rotation or issue"),
        empty_label=_("Any age"),
    )
    team = django_filters.ModelChoiceFilter(
        field_name="identity__team",
        queryset=Team.objects.order_by("name"),
        to_field_name="slug",
        label=_("Team"),
        empty_label=_("Any team"),
    )
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("Mine"), widget=forms.CheckboxInput)

    class Meta:
        model = Credential
        fields: list[str] = []

    def filter_state(self, queryset, name, value):
        return getattr(queryset, value)() if value else queryset  # live(), revoked(), revocation_...()

    def filter_kind_class(self, queryset, name, value):
        return getattr(queryset, value)() if value else queryset  # static() or federated()

    def filter_age_band(self, queryset, name, value):
        # The list annotates every row with its band already (credential_queryset); filter on that.
        return queryset.filter(age_band=value) if value else queryset

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None or not user.is_authenticated:
            return queryset
        return queryset.filter(Q(identity__owner=user) | Q(identity__backup_owner=user))


def credential_queryset(now=None):
    """What the credentials list reads: each credential with its age band, identity and team (one query)."""
    return Credential.objects.with_age_band(now).select_related("identity", "identity__team")
